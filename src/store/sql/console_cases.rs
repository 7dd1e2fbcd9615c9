//! The SQL of [`crate::store::console_cases`]: the console's bandeja. Written once against the
//! backend aliases of its parent, so each backend that mounts it compiles the same text; the
//! statement is assembled with [`QueryBuilder`] (binds only: no viewer text in the SQL).

use crate::store::console_cases::*;
use sqlx::{QueryBuilder, Row as _};

use super::cases::found_case;
use super::{DB, Row, Store, StoreError};
use crate::desk::case::ReplyKind;

/// The statuses of the default view (still somebody's work).
const OPEN: &str = "('nuevo', 'pendiente_informacion', 'en_atencion', 'escalado')";

impl Store {
    /// One page of the cases `scope` may see that match `filter`, oldest first, and how many
    /// match in all. One scan counts and pages at once (`COUNT(*) OVER ()`); a page past the
    /// last one (a link kept after cases were solved) is answered with the last page.
    pub async fn bandeja(
        &self,
        scope: &BandejaScope,
        filter: &BandejaFilter,
    ) -> Result<BandejaPage, StoreError> {
        let (ids, total) = self.bandeja_ids(scope, filter, filter.offset, Order::Oldest).await?;
        if !ids.is_empty() || filter.offset == 0 {
            let rows = self.bandeja_rows(&ids).await?;
            return Ok(BandejaPage { rows, total, offset: filter.offset });
        }
        // The newest `limit` cases, of which the last page is the first `total - last` ones.
        let (mut ids, total) = self.bandeja_ids(scope, filter, 0, Order::Newest).await?;
        let limit = filter.limit.max(1);
        let last = (total - 1).max(0) / limit * limit;
        ids.truncate(usize::try_from(total - last).unwrap_or(0));
        ids.reverse();
        Ok(BandejaPage { rows: self.bandeja_rows(&ids).await?, total, offset: last })
    }

    /// The ids of one page from `offset` and the count of every match (0 when the page is
    /// past the last one).
    async fn bandeja_ids(
        &self,
        scope: &BandejaScope,
        filter: &BandejaFilter,
        offset: i64,
        order: Order,
    ) -> Result<(Vec<i64>, i64), StoreError> {
        let mut page =
            QueryBuilder::<DB>::new("SELECT c.id, COUNT(*) OVER () AS total FROM cases c WHERE ");
        push_conditions(&mut page, scope, filter);
        page.push(match order {
            Order::Oldest => " ORDER BY c.id LIMIT ",
            Order::Newest => " ORDER BY c.id DESC LIMIT ",
        });
        page.push_bind(filter.limit);
        page.push(" OFFSET ");
        page.push_bind(offset);
        let found: Vec<(i64, i64)> = page.build_query_as().fetch_all(&mut *self.reader().await?).await?;
        let total = found.first().map_or(0, |(_, total)| *total);
        Ok((found.into_iter().map(|(id, _)| id).collect(), total))
    }

    /// The rows of one page, with the per-case lookups only these few need.
    async fn bandeja_rows(&self, ids: &[i64]) -> Result<Vec<BandejaRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<DB>::new(
            "SELECT c.id, c.number, c.status, c.level, c.tema, c.channel, c.buzon, c.requester, \
             c.requester_name, c.subject, c.security_category, c.group_name, c.agent, c.first_contact, \
             c.engine_state, c.version, c.external_ref, c.case_type, c.root_cause, c.level_since, \
             c.waiting_since, c.created_at, p.number AS parent_number, m.number AS merged_number, \
             (SELECT MIN(a.created_at) FROM case_actions a WHERE a.case_id = c.id AND a.refused = 0 \
              AND a.level = c.level AND a.created_at >= c.level_since \
              AND a.command NOT IN ('validacion', 'desconocido')) AS first_action_at, \
             (SELECT MAX(o.created_at) FROM outbox o WHERE o.case_id = c.id AND o.kind IN (",
        );
        query.push_bind(ReplyKind::SolicitudInformacion.as_str());
        query.push(", ");
        query.push_bind(ReplyKind::PreguntaSolicitante.as_str());
        query.push(
            ")) AS asked_at, \
             (SELECT COUNT(*) FROM sla_breaches b WHERE b.case_id = c.id AND b.level = c.level) AS breaches \
             FROM cases c LEFT JOIN cases p ON p.id = c.parent_id \
             LEFT JOIN cases m ON m.id = c.merged_into_id WHERE c.id IN (",
        );
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(") ORDER BY c.id");
        let rows = query.build().fetch_all(&mut *self.reader().await?).await?;
        rows.iter().map(bandeja_row).collect()
    }
}

#[derive(Clone, Copy)]
enum Order {
    Oldest,
    Newest,
}

fn bandeja_row(row: &Row) -> Result<BandejaRow, StoreError> {
    let found = found_case(row)?;
    Ok(BandejaRow {
        number: found.number,
        subject: row.try_get("subject")?,
        requester: found.requester,
        requester_name: row.try_get("requester_name")?,
        created_at: row.try_get("created_at")?,
        level_since: row.try_get("level_since")?,
        waiting_since: row.try_get("waiting_since")?,
        first_action_at: row.try_get("first_action_at")?,
        asked_at: row.try_get("asked_at")?,
        breach_recorded: row.try_get::<i64, _>("breaches")? > 0,
        case: found.case,
    })
}

/// The `WHERE` of both the count and the page: the viewer's scope, the filters, the search.
fn push_conditions(query: &mut QueryBuilder<DB>, scope: &BandejaScope, filter: &BandejaFilter) {
    push_scope(query, scope);
    match filter.status {
        None => {
            query.push(" AND c.status IN ").push(OPEN);
        }
        Some(StatusFilter::One(status)) => {
            query.push(" AND c.status = ").push_bind(status.as_str());
        }
        Some(StatusFilter::All) => {}
    }
    let equal: [(&str, Option<String>); 6] = [
        ("c.level", filter.level.map(|l| l.as_str().to_string())),
        ("c.group_name", filter.group.clone()),
        ("c.agent", filter.agent.clone()),
        ("c.tema", filter.tema.map(|t| t.as_str().to_string())),
        ("c.case_type", filter.case_type.map(|t| t.as_str().to_string())),
        ("c.channel", filter.channel.map(|c| c.as_str().to_string())),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            query.push(format_args!(" AND {column} = ")).push_bind(value);
        }
    }
    if filter.overdue {
        query.push(" AND c.status IN ").push(OPEN).push(
            " AND EXISTS (SELECT 1 FROM sla_breaches b WHERE b.case_id = c.id AND b.level = c.level)",
        );
    }
    if let Some(search) = &filter.search {
        push_search(query, search);
    }
}

/// Who sees what, as [`crate::pipeline::Desk::sees`] says it: the path of a case (the groups
/// that held it and their holders) is in its `engine_state` JSON, read with `LIKE` (a superset:
/// the console checks every row with `sees` as well).
fn push_scope(query: &mut QueryBuilder<DB>, scope: &BandejaScope) {
    if scope.technical_administration {
        query.push(
            "(c.level = 'administracion_tecnica' \
             OR c.engine_state LIKE '%\"level\":\"administracion_tecnica\"%')",
        );
        return;
    }
    // Cheap indexed comparisons first: the `LIKE`s on the path only for the rows they leave.
    query.push("((c.security_category IS NULL AND (c.tema IN (");
    let mut list = query.separated(", ");
    list.push_bind(""); // never a tema: keeps the list well-formed when the viewer has none
    for tema in &scope.temas {
        list.push_bind(tema.as_str());
    }
    query.push(")");
    if !scope.groups.is_empty() {
        query.push(" OR c.group_name IN (");
        let mut list = query.separated(", ");
        for group in &scope.groups {
            list.push_bind(group.clone());
        }
        query.push(")");
        for group in &scope.groups {
            query.push(" OR c.engine_state LIKE ");
            query.push_bind(format!("%\"group\":\"{group}\"%"));
        }
    }
    query.push(" OR c.engine_state LIKE ");
    query.push_bind(format!("%\"holder\":\"{}\"%", scope.address));
    query.push("))");
    if scope.security {
        query.push(" OR c.security_category IS NOT NULL");
    }
    query.push(")");
}

fn push_search(query: &mut QueryBuilder<DB>, search: &BandejaSearch) {
    match search {
        BandejaSearch::Number(number) => {
            query.push(" AND c.number = ").push_bind(number.clone());
        }
        BandejaSearch::Nit(nit) => {
            query.push(" AND (c.provider_nit = ").push_bind(nit.clone());
            query.push(" OR c.id IN (SELECT d.case_id FROM documents d WHERE d.supplier_nit = ");
            query.push_bind(nit.clone());
            query.push(") OR c.id IN (SELECT d.case_id FROM documents d WHERE d.customer_nit = ");
            query.push_bind(nit.clone());
            query.push("))");
        }
        BandejaSearch::Cufe(cufe) => {
            // Hexadecimal: found as the XML wrote it, in either case.
            let (lower, upper) = (cufe.to_lowercase(), cufe.to_uppercase());
            query.push(" AND (c.id IN (SELECT d.case_id FROM documents d WHERE d.uuid IN (");
            query.push_bind(lower.clone()).push(", ").push_bind(upper.clone());
            query.push(")) OR c.id IN (SELECT d.case_id FROM documents d WHERE d.referenced_uuid IN (");
            query.push_bind(lower).push(", ").push_bind(upper);
            query.push(")))");
        }
        BandejaSearch::Requester(address) => {
            query.push(" AND c.requester = ").push_bind(address.clone());
        }
        BandejaSearch::RequesterDomain(domain) => {
            query.push(" AND c.requester LIKE ").push_bind(format!("%{domain}"));
        }
        BandejaSearch::Words(words) => {
            for word in words.iter().take(MAX_SEARCH_WORDS) {
                query.push(" AND c.search_text LIKE ").push_bind(format!("%{word}%"));
            }
        }
    }
}
