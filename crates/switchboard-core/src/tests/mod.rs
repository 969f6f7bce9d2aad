//! Scenario tests: a realm driven message by message with fake sessions and a
//! virtual clock, like `quinn-proto`'s `Pair`. No sockets, no sleeping.

mod dealer;
mod harness;
mod realm;
