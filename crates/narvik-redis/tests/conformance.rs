//! narvik's conformance suite against the machine's Redis (127.0.0.1:6379
//! or `NARVIK_TEST_REDIS_URL`) and against a 3-master cluster of the test's
//! own. Every case runs under its own key prefix, deleted afterwards.

mod support;

mod single_server {
    use super::support::{Target, test_store};

    narvik_testkit::conformance_tests!(|| async { test_store(Target::single(), "conf").await });
}

mod cluster {
    use super::support::{Target, test_store};

    narvik_testkit::conformance_tests!(|| async { test_store(Target::cluster(), "conf").await });
}
