//! simulations
pub mod executor;
pub mod faults;
pub mod link;
pub mod sim_net;
