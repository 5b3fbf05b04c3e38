//! polyboot host library: everything the CLI does, as functions the binary and tests call.
pub mod bootconfig;
pub mod check;
pub mod cli;
pub mod debug;
pub mod device;
pub mod docs;
pub mod drive;
pub mod isofiles;
pub mod ops;
pub mod persistence;
pub mod persistence_luks;
pub mod serve;
pub mod vm;
pub mod wtg;
