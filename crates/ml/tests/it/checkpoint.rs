//! safetensors round trips and shape checks.

use cairn_ml::checkpoint::{self, CheckpointError};
use cairn_ml::model::{Arch, Model, ModelError};
use safetensors::SafeTensors;

#[test]
fn cnn_round_trips_through_a_safetensors_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cnn.safetensors");
    let original = Model::mnist_cnn(1);
    checkpoint::save(&original, &path).expect("save");
    let mut restored = Model::mnist_cnn(2);
    assert_ne!(restored.weights_hash(), original.weights_hash());
    checkpoint::load(&mut restored, &path).expect("load");
    assert_eq!(restored.parameters(), original.parameters());
    assert_eq!(restored.weights_hash(), original.weights_hash());

    // Other tools see PyTorch-style names, shapes and F32.
    let bytes = std::fs::read(&path).expect("read");
    let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut names = st.names();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight"
        ]
    );
    assert_eq!(
        st.tensor("conv2.weight").expect("t").shape(),
        [64, 32, 5, 5]
    );
    assert_eq!(st.tensor("fc1.weight").expect("t").shape(), [512, 3136]);
    assert_eq!(
        st.tensor("fc1.bias").expect("t").dtype(),
        safetensors::Dtype::F32
    );
    assert_eq!(original.parameter_count(), 1_663_370);
}

#[test]
fn loading_checks_names_and_shapes_and_changes_nothing_on_error() {
    let small = Model::new(
        Arch::Mlp {
            input: 784,
            hidden: vec![100],
            classes: 10,
        },
        0,
    )
    .expect("mlp");
    let bytes = checkpoint::to_bytes(&small).expect("bytes");
    let mut two_nn = Model::two_nn(0);
    let before = two_nn.weights_hash();
    let err = checkpoint::load_bytes(&mut two_nn, &bytes).expect_err("shape mismatch");
    assert!(
        matches!(&err, CheckpointError::Model(ModelError::ShapeMismatch { name, expected, got, .. })
        if name == "fc1.weight" && expected == &vec![200, 784] && got == &vec![100, 784]),
        "{err}"
    );
    assert_eq!(
        two_nn.weights_hash(),
        before,
        "failed load must not modify the model"
    );
    assert!(matches!(
        checkpoint::load_bytes(&mut two_nn, b"not a checkpoint"),
        Err(CheckpointError::Format(_))
    ));

    let mut params = two_nn.parameters();
    let last = params.pop().expect("fc3.bias");
    assert_eq!(
        two_nn.set_parameters(&params),
        Err(ModelError::MissingParameter {
            name: "fc3.bias".into()
        })
    );
    params.push(last);
    params.push(("fc9.bias".into(), vec![10], vec![0.0; 10]));
    assert_eq!(
        two_nn.set_parameters(&params),
        Err(ModelError::UnknownParameter {
            name: "fc9.bias".into()
        })
    );
}

#[test]
fn set_parameters_round_trips_for_aggregation() {
    let mut model = Model::two_nn(3);
    let mut params = model.parameters();
    for (_, _, values) in &mut params {
        values.iter_mut().for_each(|v| *v *= 0.5);
    }
    model.set_parameters(&params).expect("set");
    assert_eq!(model.parameters(), params);
    assert_eq!(
        params
            .iter()
            .map(|(n, _, _)| n.as_str())
            .collect::<Vec<_>>(),
        [
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
            "fc3.weight",
            "fc3.bias"
        ]
    );
}
