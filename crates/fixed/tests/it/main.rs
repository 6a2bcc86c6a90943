//! The one integration-test binary of cairn-fixed: golden vectors, properties, bad input.

mod bad_input;
mod golden;
mod props;

use cairn_fixed::{QModel, QTensor};

/// A model with one rank-1 tensor called "w".
pub fn vector_model(frac_bits: u8, values: &[i32]) -> QModel {
    QModel::new(vec![(
        "w".into(),
        QTensor::vector(frac_bits, values.to_vec()).unwrap(),
    )])
    .unwrap()
}

/// One single-tensor update per row.
pub fn updates(frac_bits: u8, rows: &[&[i32]]) -> Vec<QModel> {
    rows.iter().map(|r| vector_model(frac_bits, r)).collect()
}

/// The values of the single tensor "w".
pub fn values(model: &QModel) -> Vec<i32> {
    model.get("w").unwrap().values().to_vec()
}
