//! layout (in progress).
