//! Dispute game (skeleton; filled in by the dispute helper).
