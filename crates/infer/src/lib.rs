//! Integer inference engine (skeleton; filled in by the inference helper).
