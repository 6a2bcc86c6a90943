//! Off-chain federated-learning work (skeleton; filled in by the FL helper).
