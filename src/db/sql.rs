//! Hand-built SQL for the few queries diesel's DSL cannot express (dynamic
//! GROUP BY), with placeholders in each backend's syntax and typed binds.

use chrono::NaiveDateTime;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{Double, Text, Timestamp};
use diesel::{QueryResult, QueryableByName, RunQueryDsl};

use super::{DbConnection, MultiBackend};

#[derive(Clone, Debug)]
pub enum Bind {
    Text(String),
    Timestamp(NaiveDateTime),
    Double(f64),
}

pub struct Sql {
    pub text: String,
    binds: Vec<Bind>,
    postgres: bool,
}

impl Sql {
    pub fn new(conn: &DbConnection) -> Self {
        Self {
            text: String::new(),
            binds: Vec::new(),
            postgres: matches!(conn, DbConnection::Postgres(_)),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a placeholder (`$n` or `?`) bound to `value`.
    pub fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        if self.postgres {
            let n = self.binds.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }

    pub fn load<T: QueryableByName<MultiBackend> + 'static>(
        &self,
        conn: &mut DbConnection,
    ) -> QueryResult<Vec<T>> {
        let mut query: BoxedSqlQuery<'_, MultiBackend, _> =
            diesel::sql_query(self.text.clone()).into_boxed();
        for bind in &self.binds {
            query = match bind {
                Bind::Text(s) => query.bind::<Text, _>(s.clone()),
                Bind::Timestamp(t) => query.bind::<Timestamp, _>(*t),
                Bind::Double(d) => query.bind::<Double, _>(*d),
            };
        }
        query.load(conn)
    }
}
