//! The PostgreSQL harness of the test support (`iac_tests::PgServer`) itself: password
//! logins per database, stop and restart, nothing left behind, and a clear error when the
//! server programs are missing.

use iac_tests::PgServer;
use iac_tests::pg::server_bindir_from;

#[tokio::test]
async fn each_database_has_its_own_password_login_over_tcp() {
    let server = PgServer::start();
    let db = server.create_database("harness");
    let client = db.connect().await;
    let row = client
        .query_one("select current_user::text, current_database()::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.user);
    assert_eq!(row.get::<_, String>(1), db.name);
    let address: String = client
        .query_one("select inet_server_addr()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(address, "127.0.0.1/32", "TCP on the loopback address only");

    let mut wrong = db.clone();
    wrong.password.push('x');
    let refused = tokio_postgres::connect(&wrong.url(), tokio_postgres::NoTls).await;
    let error = refused.err().expect("a wrong password is refused");
    assert_eq!(
        error.as_db_error().map(|e| e.code().code()),
        Some("28P01"),
        "invalid_password: {error}"
    );
    let other = server.create_database("harness");
    assert_ne!(other.name, db.name);
    assert!(
        !format!("{db:?}").contains(&db.password),
        "Debug redacts it"
    );
}

#[tokio::test]
async fn a_stopped_server_refuses_connections_and_a_restart_keeps_the_data() {
    let server = PgServer::start();
    let db = server.create_database("harness");
    db.connect()
        .await
        .batch_execute("create table kept (n int); insert into kept values (7)")
        .await
        .unwrap();
    server.stop();
    assert!(!server.is_running());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", server.port())).is_err(),
        "port {} still answers",
        server.port()
    );
    server.restart();
    let n: i32 = db
        .connect()
        .await
        .query_one("select n from kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 7);
}

#[test]
fn a_dropped_server_leaves_no_process_and_no_files() {
    let server = PgServer::start();
    let (port, dir) = (server.port(), server.dir().to_path_buf());
    assert!(dir.join("data/PG_VERSION").is_file());
    drop(server);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

#[test]
fn a_pg_bindir_without_the_server_is_named() {
    let empty = tempfile::tempdir().unwrap();
    let error = server_bindir_from(Some(empty.path().into())).unwrap_err();
    assert!(error.contains("PG_BINDIR="), "{error}");
    assert!(
        error.contains(&empty.path().display().to_string()),
        "{error}"
    );
    if let Err(why) = server_bindir_from(None) {
        panic!("{why}; {}", iac_tests::PG_INSTALL_HINT);
    }
}
