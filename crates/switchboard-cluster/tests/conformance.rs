//! openraft's own storage conformance suite, run against the redb stores: logs,
//! votes, purge and truncate, membership bookkeeping, apply, snapshot transfer.

mod common;

use common::TempStoreBuilder;
use openraft::testing::Suite;

#[test]
fn redb_storage_passes_openraft_conformance_suite() {
    Suite::test_all(TempStoreBuilder).expect("openraft storage suite");
}
