//! gpt (in progress).
