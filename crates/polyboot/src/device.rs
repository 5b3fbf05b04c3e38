//! Target inspection and safety checks (in progress).
