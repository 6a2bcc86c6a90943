//! Canonical bytes of a move, as posted on chain (little-endian, length-prefixed).
//!
//! ```text
//! proof  = index:u32 count:u32 n:u8 sibling:[32]*n
//! split  = 0x01 n:u8 child:[32]*n
//! pick   = 0x02 n:u8 child:[32]*n index:u8 header? row?     (? = flag:u8 then the value)
//! header = len:u32 bytes channel_root:[32] proof
//! row    = len:u32 bytes
//! step   = 0x03 node_opening element:u32 row_opening channel? inputs:u8 (node_opening rows:u16 row_opening*)*
//! node_opening = index:u32 header output_root:[32] proof
//! row_opening  = row proof
//! channel      = weights(len:u32 bytes) bias:i32 m:i32 shift:u8 proof
//! ```
#![deny(clippy::float_arithmetic)]

use cairn_infer::commit::{ChannelOpening, HeaderOpening, RowOpening};
use cairn_infer::merkle::Proof;
use cairn_infer::step::NodeOpening;

use crate::game::{Move, Reveal};

fn proof(out: &mut Vec<u8>, p: &Proof) {
    out.extend_from_slice(&p.index.to_le_bytes());
    out.extend_from_slice(&p.count.to_le_bytes());
    out.push(p.siblings.len() as u8);
    p.siblings.iter().for_each(|s| out.extend_from_slice(s));
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn row(out: &mut Vec<u8>, r: &[i8]) {
    let b: Vec<u8> = r.iter().map(|&v| v as u8).collect();
    bytes(out, &b);
}

fn header(out: &mut Vec<u8>, h: &HeaderOpening) {
    bytes(out, &h.header);
    out.extend_from_slice(&h.channel_root);
    proof(out, &h.proof);
}

fn node(out: &mut Vec<u8>, n: &NodeOpening) {
    out.extend_from_slice(&n.index.to_le_bytes());
    header(out, &n.header);
    out.extend_from_slice(&n.output_root);
    proof(out, &n.output_proof);
}

fn row_opening(out: &mut Vec<u8>, r: &RowOpening) {
    row(out, &r.data);
    proof(out, &r.proof);
}

fn channel(out: &mut Vec<u8>, c: &ChannelOpening) {
    row(out, &c.weights);
    out.extend_from_slice(&c.bias.to_le_bytes());
    out.extend_from_slice(&c.multiplier.m.to_le_bytes());
    out.push(c.multiplier.shift);
    proof(out, &c.proof);
}

fn children(out: &mut Vec<u8>, c: &[[u8; 32]]) {
    out.push(c.len() as u8);
    c.iter().for_each(|h| out.extend_from_slice(h));
}

fn reveal(out: &mut Vec<u8>, r: &Reveal) {
    out.push(u8::from(r.header.is_some()));
    if let Some(h) = &r.header {
        header(out, h);
    }
    out.push(u8::from(r.row.is_some()));
    if let Some(r) = &r.row {
        row(out, r);
    }
}

impl Move {
    /// The canonical encoding (its length is what a move costs on chain).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Move::Split { children: c } => {
                out.push(1);
                children(&mut out, c);
            }
            Move::Pick {
                children: c,
                index,
                reveal: r,
            } => {
                out.push(2);
                children(&mut out, c);
                out.push(*index);
                reveal(&mut out, r);
            }
            Move::Step(p) => {
                out.push(3);
                node(&mut out, &p.node);
                out.extend_from_slice(&p.element.to_le_bytes());
                row_opening(&mut out, &p.output_row);
                out.push(u8::from(p.channel.is_some()));
                if let Some(c) = &p.channel {
                    channel(&mut out, c);
                }
                out.push(p.inputs.len() as u8);
                for input in &p.inputs {
                    node(&mut out, &input.node);
                    out.extend_from_slice(&(input.rows.len() as u16).to_le_bytes());
                    input.rows.iter().for_each(|r| row_opening(&mut out, r));
                }
            }
        }
        out
    }
}
