//! The private MariaDB server the Job scripts will run against.

use testkit::require_mariadb;

#[test]
fn answers_a_query() {
    let Some(db) = require_mariadb!() else { return };
    assert_eq!(db.query("SELECT 40 + 2").expect("query").trim(), "42");
    assert_eq!(db.host, "127.0.0.1");
}

#[test]
fn a_database_named_like_the_seed_can_be_created_and_used() {
    let Some(db) = require_mariadb!() else { return };
    // `otus-database` has a hyphen: it must be quoted, as the operator's scripts will.
    db.query("CREATE DATABASE IF NOT EXISTS `otus-database`")
        .expect("create database");
    db.query_in(
        "otus-database",
        "CREATE TABLE test (id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT, name VARCHAR(20) NOT NULL, PRIMARY KEY (id));
         INSERT INTO test (name) VALUES ('some data'), ('some data-2');",
    )
    .expect("table and rows");
    let rows = db
        .query_in("otus-database", "SELECT id, name FROM test ORDER BY id")
        .expect("select");
    assert_eq!(rows, "1\tsome data\n2\tsome data-2\n");
    db.query("DROP DATABASE `otus-database`").expect("drop");
}
