//! Two nodes writing one database at once, as two `mesa-fe run` on one PostgreSQL do (in the
//! SQLite pass, two processes' handles on one file): case numbers stay gap-free, and one
//! message reaching two buzones at the same moment is one case.

mod common;

use std::collections::HashSet;

use common::local::{fixture, plain_mail};
use mesa_fe::pipeline::Outcome;
use mesa_fe::store::Store;
use mesa_fe::store::cases::CaseFilter;
use mesa_fe::store::raw::Origin;

#[tokio::test]
async fn two_nodes_opening_cases_at_once_number_them_without_gaps_or_repeats() {
    let fx = fixture(|_| {}).await;
    let other_node = Store::open(&fx.db.url()).await.expect("second handle");
    let mut work = Vec::new();
    for n in 0..40 {
        let (desk, store) =
            (fx.desk.clone(), if n % 2 == 0 { fx.store.clone() } else { other_node.clone() });
        let origin = Origin::local("facturaelectronica");
        work.push(tokio::spawn(async move {
            let raw = plain_mail(
                &format!("proveedor{n}@pt.example"),
                &format!("Factura SETT{n:04} rechazada"),
                &format!("<concurrencia.{n}@pt.example>"),
                None,
                "",
                "La factura del NIT 900481236 no fue aceptada; ¿qué revisamos?",
            );
            desk.ingest(&store, &origin, &raw).await.expect("ingest")
        }));
    }
    for task in work {
        assert!(matches!(task.await.expect("task"), Outcome::Opened { .. }));
    }
    let cases = fx.store.list_cases(&CaseFilter::default()).await.expect("list");
    let mut numbers: Vec<u32> = cases
        .iter()
        .map(|c| c.number.rsplit('-').next().and_then(|n| n.parse().ok()).expect("number"))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=40).collect::<Vec<u32>>(), "gap-free, each once");
    other_node.close().await;
}

#[tokio::test]
async fn one_message_in_two_buzones_of_two_nodes_at_once_is_one_case() {
    let fx = fixture(|_| {}).await;
    let other_node = Store::open(&fx.db.url()).await.expect("second handle");
    let raw = plain_mail(
        "ana@pt.example",
        "Factura SETT0042 rechazada",
        "<dos.buzones@pt.example>",
        None,
        "",
        "La factura del NIT 900481236 no fue aceptada; ¿qué revisamos?",
    );
    let mut work = Vec::new();
    for (store, buzon) in
        [(fx.store.clone(), "facturaelectronica"), (other_node.clone(), "aliados")]
    {
        let (desk, raw) = (fx.desk.clone(), raw.clone());
        work.push(tokio::spawn(async move {
            desk.ingest(&store, &Origin::local(buzon), &raw).await.expect("ingest")
        }));
    }
    let mut opened = 0;
    for task in work {
        if matches!(task.await.expect("task"), Outcome::Opened { .. }) {
            opened += 1;
        }
    }
    assert_eq!(opened, 1, "one of the two copies opens the case");
    let cases = fx.store.list_cases(&CaseFilter::default()).await.expect("list");
    let numbers: HashSet<&str> = cases.iter().map(|c| c.number.as_str()).collect();
    assert_eq!(numbers.len(), 1, "one case for the message: {cases:?}");
    other_node.close().await;
}
