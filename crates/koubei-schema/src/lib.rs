//! The canonical koubei tables.
//!
//! Every front end, the importer and the engine agree on these definitions:
//! column names, Arrow types, which columns an import must supply, and each
//! table's primary key. `docs/data-model.md` is the prose version of this file;
//! a unit test keeps the two in step.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;
use serde_with::DeserializeFromStr;

/// The time zone every stored timestamp is normalised to.
pub const TIMESTAMP_TZ: &str = "UTC";

/// Money is stored as exact decimals with this many places, so that every
/// sum of it is exact and the same in any order. Four places hold every
/// currency's minor unit (ISO 4217 goes to four) with room for prices
/// per gram or per minute; more places in a file are rounded half away from
/// zero at import.
pub const MONEY_SCALE: i8 = 4;
/// Digits of a stored amount, of which [`MONEY_SCALE`] are decimals: up to
/// 99,999,999,999,999.9999 in one line, which fits in 64 bits, and sums of
/// any number of lines fit in Decimal128's 38 digits.
pub const MONEY_PRECISION: u8 = 18;

/// The logical type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Text,
    Integer,
    /// Money: an exact decimal with [`MONEY_SCALE`] places.
    Decimal,
    Boolean,
    /// An instant, stored as microseconds since the epoch in UTC.
    Timestamp,
}

impl ColumnType {
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::Integer => DataType::Int64,
            ColumnType::Decimal => DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE),
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMP_TZ.into()))
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Decimal => "decimal",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamp => "timestamp",
        }
    }
}

/// Whether an import must supply a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// The file must have the column and every row must have a value.
    Required,
    /// Derived by the importer when the file does not have it.
    Derived,
    Optional,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub ty: ColumnType,
    pub presence: Presence,
    pub doc: &'static str,
}

const fn col(
    name: &'static str,
    ty: ColumnType,
    presence: Presence,
    doc: &'static str,
) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        presence,
        doc,
    }
}

use ColumnType::*;
use Presence::*;

/// One of the tables a shop's data is imported into.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, DeserializeFromStr,
)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Customers,
    Orders,
    Events,
    Reviews,
    Referrals,
}

impl TableKind {
    /// The importable tables, in the order they are listed to users.
    pub const ALL: [TableKind; 5] = [
        TableKind::Customers,
        TableKind::Orders,
        TableKind::Events,
        TableKind::Reviews,
        TableKind::Referrals,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TableKind::Customers => "customers",
            TableKind::Orders => "orders",
            TableKind::Events => "events",
            TableKind::Reviews => "reviews",
            TableKind::Referrals => "referrals",
        }
    }

    pub fn columns(self) -> &'static [ColumnSpec] {
        match self {
            TableKind::Customers => CUSTOMERS,
            TableKind::Orders => ORDERS,
            TableKind::Events => EVENTS,
            TableKind::Reviews => REVIEWS,
            TableKind::Referrals => REFERRALS,
        }
    }

    /// The columns that identify a row. A row whose key is already stored is
    /// not imported again, which makes re-importing a file harmless.
    pub fn primary_key(self) -> &'static [&'static str] {
        match self {
            TableKind::Customers => &["customer_id"],
            TableKind::Orders => &["order_id", "line"],
            TableKind::Events => &["event_id"],
            TableKind::Reviews => &["review_id"],
            TableKind::Referrals => &["referral_id"],
        }
    }

    pub fn column(self, name: &str) -> Option<&'static ColumnSpec> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// The Arrow schema of the canonical columns: required and derived columns
    /// are never null. Extra columns that a file brings are appended after
    /// these, nullable.
    pub fn schema(self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns()
                .iter()
                .map(|c| Field::new(c.name, c.ty.arrow(), c.presence == Optional))
                .collect::<Vec<_>>(),
        ))
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTable(pub String);

impl fmt::Display for UnknownTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown table \"{}\": expected one of customers, orders, events, reviews, referrals",
            self.0
        )
    }
}

impl std::error::Error for UnknownTable {}

impl FromStr for TableKind {
    type Err = UnknownTable;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TableKind::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTable(s.to_string()))
    }
}

/// The order statuses; anything else in a file is mapped to one of these or rejected.
pub const ORDER_STATUSES: [&str; 3] = ["paid", "refunded", "cancelled"];

const CUSTOMERS: &[ColumnSpec] = &[
    col(
        "customer_id",
        Text,
        Required,
        "The shop's id for the customer.",
    ),
    col(
        "first_seen",
        Timestamp,
        Optional,
        "When the customer was first seen (sign-up or first visit).",
    ),
    col(
        "country",
        Text,
        Optional,
        "ISO 3166-1 alpha-2 code, upper case.",
    ),
    col("region", Text, Optional, "Province or state."),
    col("city", Text, Optional, "City."),
    col(
        "acquisition_channel",
        Text,
        Optional,
        "How the customer first came: organic, search, ads, social, referral, ...",
    ),
    col(
        "referred_by",
        Text,
        Optional,
        "customer_id of the customer whose share brought this one.",
    ),
];

const ORDERS: &[ColumnSpec] = &[
    col(
        "order_id",
        Text,
        Derived,
        "The order. When absent, each row is its own order, with an id hashed from its content.",
    ),
    col(
        "line",
        Integer,
        Derived,
        "The line within the order. When absent, the row's position within its order in the file, from 1.",
    ),
    col("customer_id", Text, Required, "Who ordered."),
    col("ts", Timestamp, Required, "When the order was placed."),
    col(
        "quantity",
        Integer,
        Optional,
        "Units on the line; 1 when absent.",
    ),
    col(
        "unit_price",
        Decimal,
        Optional,
        "Price of one unit; used for amount when amount is absent.",
    ),
    col(
        "amount",
        Decimal,
        Required,
        "The line's revenue. Derived as unit_price × quantity when the file has only unit_price.",
    ),
    col("currency", Text, Optional, "ISO 4217 code, upper case."),
    col("product_id", Text, Optional, "The product sold."),
    col("category", Text, Optional, "The product's category."),
    col(
        "country",
        Text,
        Optional,
        "Shipping country, ISO 3166-1 alpha-2.",
    ),
    col("region", Text, Optional, "Shipping province or state."),
    col("city", Text, Optional, "Shipping city."),
    col(
        "channel",
        Text,
        Optional,
        "Where the order was placed: web, app, mini-program, ...",
    ),
    col(
        "status",
        Text,
        Optional,
        "paid, refunded or cancelled; paid when absent.",
    ),
];

const EVENTS: &[ColumnSpec] = &[
    col(
        "event_id",
        Text,
        Derived,
        "The event. When absent, hashed from the row's content.",
    ),
    col("ts", Timestamp, Required, "When the event happened."),
    col(
        "customer_id",
        Text,
        Optional,
        "Who, when known. A row needs customer_id or anonymous_id.",
    ),
    col(
        "anonymous_id",
        Text,
        Optional,
        "A device or cookie id for visitors not yet known.",
    ),
    col(
        "event",
        Text,
        Required,
        "The event name: view, add_to_cart, checkout, purchase, ...",
    ),
    col("product_id", Text, Optional, "The product concerned."),
    col("channel", Text, Optional, "web, app, mini-program, ..."),
    col("country", Text, Optional, "ISO 3166-1 alpha-2."),
    col("region", Text, Optional, "Province or state."),
    col("referrer", Text, Optional, "Where the visit came from."),
];

const REVIEWS: &[ColumnSpec] = &[
    col(
        "review_id",
        Text,
        Derived,
        "The review. When absent, hashed from the row's content.",
    ),
    col("ts", Timestamp, Required, "When the review was written."),
    col("customer_id", Text, Optional, "The reviewer."),
    col("product_id", Text, Optional, "The product reviewed."),
    col("order_id", Text, Optional, "The order reviewed."),
    col(
        "rating",
        Integer,
        Optional,
        "Stars, 1 to 5; empty for a review without one, such as a follow-up.",
    ),
    col("text", Text, Optional, "The review's text."),
    col(
        "language",
        Text,
        Optional,
        "ISO 639-1 code of the text: zh, en, ...",
    ),
];

const REFERRALS: &[ColumnSpec] = &[
    col(
        "referral_id",
        Text,
        Derived,
        "The share. When absent, hashed from the row's content.",
    ),
    col("ts", Timestamp, Required, "When the share was sent."),
    col("sharer_id", Text, Required, "customer_id of who shared."),
    col(
        "recipient_id",
        Text,
        Optional,
        "Who received it: a customer_id, a visitor id, or empty until known.",
    ),
    col(
        "channel",
        Text,
        Optional,
        "wechat, weibo, whatsapp, email, link, ...",
    ),
    col("product_id", Text, Optional, "The product shared, if any."),
    col(
        "clicked",
        Boolean,
        Optional,
        "Whether the recipient opened the share.",
    ),
    col(
        "ordered",
        Boolean,
        Optional,
        "Whether the recipient ordered because of it.",
    ),
];

/// A JSON Schema for a type written as text and read through its one
/// `FromStr` (a period, a funnel step, a time zone): a string, described.
#[macro_export]
macro_rules! text_schema {
    ($ty:ty, $description:expr) => {
        impl ::schemars::JsonSchema for $ty {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }

            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                ::schemars::json_schema!({ "type": "string", "description": $description })
            }
        }
    };
}

text_schema!(TableKind, "customers, orders, events, reviews or referrals");

/// The table where rejected rows are kept, with where they came from and why.
pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("import_id", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("line", DataType::Int64, true),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, true),
        Field::new("rejected_at", ColumnType::Timestamp.arrow(), false),
    ]))
}

/// The name of the rejects table in the workspace and in SQL.
pub const REJECTS: &str = "rejects";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_primary_key_column_exists_and_is_not_optional() {
        for t in TableKind::ALL {
            for k in t.primary_key() {
                let c = t.column(k).unwrap_or_else(|| panic!("{t}.{k} missing"));
                assert_ne!(c.presence, Optional, "{t}.{k}");
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_say_what_is_expected() {
        for t in TableKind::ALL {
            assert_eq!(t.name().parse::<TableKind>().unwrap(), t);
        }
        let err = "order".parse::<TableKind>().unwrap_err().to_string();
        assert!(err.contains("\"order\"") && err.contains("orders"), "{err}");
    }

    #[test]
    fn timestamps_are_microseconds_in_utc() {
        let s = TableKind::Orders.schema();
        assert_eq!(
            s.field_with_name("ts").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert!(!s.field_with_name("customer_id").unwrap().is_nullable());
        assert!(!s.field_with_name("order_id").unwrap().is_nullable());
        assert!(s.field_with_name("status").unwrap().is_nullable());
    }

    /// docs/data-model.md lists every column of every table.
    #[test]
    fn data_model_doc_lists_every_column() {
        let doc = include_str!("../../../docs/data-model.md");
        for t in TableKind::ALL {
            let section = doc
                .split("\n## ")
                .find(|s| s.starts_with(&format!("`{}`", t.name())))
                .unwrap_or_else(|| panic!("docs/data-model.md has no section for {t}"));
            for c in t.columns() {
                assert!(
                    section.contains(&format!("| `{}` |", c.name)),
                    "docs/data-model.md: {t} lacks {}",
                    c.name
                );
            }
        }
    }
}
