//! A fitted recommendation model, kept in the workspace so that one
//! customer's top N reads one block of customers and the product side
//! instead of fitting over every order.
//!
//! Under `models/`: `recs-MODEL.json`, the record readers go by, and the
//! two Arrow IPC files it names: the products (ids and the model's side of
//! them) and the customers in id order (ids, what they bought and what
//! else they did, ALS's factors) in blocks of [`BLOCK`]. The record keeps
//! each block's first id, so one customer is one block read. Files are
//! named by their training: a reader holding an older record reads its
//! own files, or finds them gone and reads the record again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, FixedSizeListArray, Float32Array, ListArray, RecordBatch, StringArray,
    UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Float32Type, UInt32Type};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use koubei_recs::{AlsModel, ItemKnnModel, Popularity, top_n};
use koubei_store::Workspace;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The models `recommend` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecModel {
    /// Implicit-feedback matrix factorisation (64 factors, 15 sweeps).
    Als,
    /// Item-to-item cosine similarity from co-purchase.
    Itemknn,
    /// The most bought products: the baseline.
    Pop,
}

impl RecModel {
    pub const ALL: [RecModel; 3] = [RecModel::Als, RecModel::Itemknn, RecModel::Pop];

    pub fn name(self) -> &'static str {
        match self {
            RecModel::Als => "als",
            RecModel::Itemknn => "itemknn",
            RecModel::Pop => "pop",
        }
    }
}

impl std::str::FromStr for RecModel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        RecModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("{s}: expected als, itemknn or pop"))
    }
}

/// Customers per block of the customers file.
const BLOCK: usize = 16_384;

/// What a stored model is, and what it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub model: RecModel,
    /// UTC, to the second.
    pub trained_at: String,
    /// The versions of the tables trained on: `orders`, and `events` when
    /// events were weighted in.
    pub data_version: BTreeMap<String, i64>,
    /// Each event's weight beside a paid order line's 1; empty for orders
    /// alone.
    pub event_weights: BTreeMap<String, f32>,
    pub customers: usize,
    pub products: usize,
    /// Customer × product cells with an order line or a weighted event.
    pub interactions: usize,
    pub fit_seconds: f64,
    /// The customers' and the products' files, under `models/`.
    pub(crate) files: [String; 2],
    /// The first customer id of each block of the customers' file.
    pub(crate) firsts: Vec<String>,
}

/// Customers, in id order, as a model sees them: all of them when fitted
/// now, one block when read back.
#[derive(Debug, Default)]
pub(crate) struct Customers {
    pub ids: Vec<String>,
    /// Per customer, the products of every cell (sorted): what item-kNN
    /// scores from.
    pub items: Vec<Vec<u32>>,
    /// Per customer, the products of their paid order lines (sorted): what
    /// is left out unless repeats are allowed.
    pub bought: Vec<Vec<u32>>,
    /// ALS's factors, `f` per customer; empty for the other models.
    pub factors: Vec<f32>,
}

impl Customers {
    pub fn find(&self, id: &str) -> Option<usize> {
        self.ids.binary_search_by(|c| c.as_str().cmp(id)).ok()
    }
}

/// The model's side of the products.
pub(crate) enum ItemSide {
    /// Item factors; no user factors (they are the customers').
    Als(AlsModel),
    Knn(ItemKnnModel),
    Pop(Popularity),
}

/// A fitted model: its record, the product ids and their side.
pub(crate) struct Trained {
    pub info: ModelInfo,
    pub products: Vec<String>,
    pub side: ItemSide,
}

impl ItemSide {
    /// The `n` best products for customer `c` of `customers`, best first.
    pub fn recommend(
        &self,
        customers: &Customers,
        c: usize,
        allow_repeat: bool,
        n: usize,
    ) -> Vec<(u32, f32)> {
        let exclude: &[u32] = if allow_repeat {
            &[]
        } else {
            &customers.bought[c]
        };
        match self {
            ItemSide::Als(m) => {
                let f = m.factors;
                top_n(
                    &m.scores(&customers.factors[c * f..(c + 1) * f]),
                    exclude,
                    n,
                )
            }
            ItemSide::Knn(m) => m.score_items(&customers.items[c], exclude, n),
            ItemSide::Pop(m) => top_n(m.scores(), exclude, n),
        }
    }
}

fn record_name(model: RecModel) -> String {
    format!("models/recs-{}.json", model.name())
}

fn io(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Request(format!("{what}: {e}"))
}

fn ids(values: impl IntoIterator<Item = impl AsRef<str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn u32_lists(lists: &[Vec<u32>]) -> ArrayRef {
    let values = UInt32Array::from_iter_values(lists.iter().flatten().copied());
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::UInt32, false)),
        OffsetBuffer::from_lengths(lists.iter().map(Vec::len)),
        Arc::new(values),
        None,
    ))
}

fn f32_lists(lists: impl Iterator<Item = Vec<f32>>, lens: &[usize]) -> ArrayRef {
    let values = Float32Array::from_iter_values(lists.flatten());
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float32, false)),
        OffsetBuffer::from_lengths(lens.iter().copied()),
        Arc::new(values),
        None,
    ))
}

fn factor_column(values: &[f32], f: usize) -> Result<ArrayRef> {
    Ok(Arc::new(FixedSizeListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Float32, false)),
        f as i32,
        Arc::new(Float32Array::from(values.to_vec())),
        None,
    )?))
}

/// One Arrow IPC file of `batches`.
fn ipc(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let schema = batches
        .first()
        .map(RecordBatch::schema)
        .ok_or_else(|| Error::Request("a model file with no rows".into()))?;
    let mut w = FileWriter::try_new(Vec::new(), &schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    Ok(w.into_inner()?)
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_from_iter(columns)?)
}

/// Stores the model and its customers; readers see it once its record is
/// written. The caller holds the workspace's lock.
pub(crate) fn save(ws: &Workspace, t: &mut Trained, customers: &Customers) -> Result<()> {
    let dir = ws.root().join("models");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir.display().to_string(), e))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.9f").to_string();
    let stem = format!("recs-{}-{stamp}", t.info.model.name());
    let files = [
        format!("{stem}-customers.arrow"),
        format!("{stem}-products.arrow"),
    ];

    let mut products = vec![("product_id", ids(&t.products))];
    match &t.side {
        ItemSide::Als(m) => products.push(("factors", factor_column(&m.items, m.factors)?)),
        ItemSide::Knn(m) => {
            let lists = m.neighbour_lists();
            let lens: Vec<usize> = lists.iter().map(Vec::len).collect();
            let items: Vec<Vec<u32>> = lists
                .iter()
                .map(|l| l.iter().map(|x| x.0).collect())
                .collect();
            products.push(("neighbours", u32_lists(&items)));
            products.push((
                "similarity",
                f32_lists(lists.iter().map(|l| l.iter().map(|x| x.1).collect()), &lens),
            ));
        }
        ItemSide::Pop(m) => products.push((
            "score",
            Arc::new(Float32Array::from(m.scores().to_vec())) as ArrayRef,
        )),
    }
    let products = ipc(&[batch(products)?])?;

    let f = match &t.side {
        ItemSide::Als(m) => m.factors,
        _ => 0,
    };
    let mut blocks = Vec::new();
    let mut firsts = Vec::new();
    for start in (0..customers.ids.len()).step_by(BLOCK) {
        let end = customers.ids.len().min(start + BLOCK);
        firsts.push(customers.ids[start].clone());
        let mut columns = vec![
            ("customer_id", ids(&customers.ids[start..end])),
            ("bought", u32_lists(&customers.bought[start..end])),
        ];
        // Without weighted events a customer's cells are what they bought.
        if !t.info.event_weights.is_empty() {
            columns.push(("items", u32_lists(&customers.items[start..end])));
        }
        if f > 0 {
            columns.push((
                "factors",
                factor_column(&customers.factors[start * f..end * f], f)?,
            ));
        }
        blocks.push(batch(columns)?);
    }
    let customers_file = ipc(&blocks)?;

    ws.write_file(&format!("models/{}", files[0]), &customers_file)?;
    ws.write_file(&format!("models/{}", files[1]), &products)?;
    t.info.files = files.clone();
    t.info.firsts = firsts;
    let record = serde_json::to_vec_pretty(&t.info).map_err(|e| io("a model's record", e))?;
    ws.write_file(&record_name(t.info.model), &record)?;
    // The files of earlier trainings of this model: a reader that opened
    // one keeps reading it.
    let prefix = format!("recs-{}-", t.info.model.name());
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".arrow") && !files.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// A stored model with its product side read, and where its customers are.
pub(crate) struct Stored {
    pub trained: Trained,
    customers_file: std::path::PathBuf,
}

/// The stored model of this kind, if one was trained.
pub(crate) fn load(ws: &Workspace, model: RecModel) -> Result<Option<Stored>> {
    // Once more if a training replaced the files between the record and
    // them.
    match load_once(ws, model) {
        Err(Error::Request(e)) if e.contains("(gone)") => load_once(ws, model),
        other => other,
    }
}

fn open_ipc(path: &std::path::Path) -> Result<FileReader<BufReader<File>>> {
    let file = File::open(path).map_err(|e| {
        let gone = if e.kind() == std::io::ErrorKind::NotFound {
            " (gone)"
        } else {
            ""
        };
        io(&format!("{}{gone}", path.display()), e)
    })?;
    Ok(FileReader::try_new_buffered(file, None)?)
}

fn load_once(ws: &Workspace, model: RecModel) -> Result<Option<Stored>> {
    let name = record_name(model);
    let Some(bytes) = ws.read_file(&name)? else {
        return Ok(None);
    };
    let info: ModelInfo =
        serde_json::from_slice(&bytes).map_err(|e| io(&format!("{name} in the workspace"), e))?;
    let dir = ws.root().join("models");
    let products_path = dir.join(&info.files[1]);
    let what = products_path.display().to_string();
    let batches: Vec<RecordBatch> =
        open_ipc(&products_path)?.collect::<std::result::Result<_, _>>()?;
    let b = arrow::compute::concat_batches(
        batches
            .first()
            .map(RecordBatch::schema)
            .as_ref()
            .ok_or_else(|| io(&what, "no rows"))?,
        &batches,
    )?;
    let column = |name: &str| {
        b.column_by_name(name)
            .cloned()
            .ok_or_else(|| io(&what, format!("no column {name}")))
    };
    let products = column("product_id")?
        .as_string::<i32>()
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect();
    let side = match model {
        RecModel::Als => {
            let (f, items) = factors(&column("factors")?, &what)?;
            ItemSide::Als(AlsModel {
                factors: f,
                users: Vec::new(),
                items,
            })
        }
        RecModel::Itemknn => {
            let items = list_rows::<UInt32Type>(&column("neighbours")?, &what)?;
            let sims = list_rows::<Float32Type>(&column("similarity")?, &what)?;
            ItemSide::Knn(ItemKnnModel::from_neighbour_lists(
                items
                    .into_iter()
                    .zip(sims)
                    .map(|(i, s)| i.into_iter().zip(s).collect())
                    .collect(),
            ))
        }
        RecModel::Pop => {
            let c = column("score")?;
            let s = c
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(|| io(&what, "score is not float32"))?;
            ItemSide::Pop(Popularity::from_scores(s.values().to_vec()))
        }
    };
    Ok(Some(Stored {
        customers_file: dir.join(&info.files[0]),
        trained: Trained {
            info,
            products,
            side,
        },
    }))
}

fn factors(c: &ArrayRef, what: &str) -> Result<(usize, Vec<f32>)> {
    let l = c
        .as_fixed_size_list_opt()
        .ok_or_else(|| io(what, "factors are not a fixed-size list"))?;
    let v = l
        .values()
        .as_primitive_opt::<Float32Type>()
        .ok_or_else(|| io(what, "factors are not float32"))?;
    Ok((l.value_length() as usize, v.values().to_vec()))
}

/// Each list of a list column of `T`s.
fn list_rows<T: ArrowPrimitiveType>(c: &ArrayRef, what: &str) -> Result<Vec<Vec<T::Native>>> {
    let l = c
        .as_list_opt::<i32>()
        .ok_or_else(|| io(what, "not a list column"))?;
    let v = l
        .values()
        .as_primitive_opt::<T>()
        .ok_or_else(|| io(what, format!("not a list of {}", T::DATA_TYPE)))?
        .values();
    Ok(l.offsets()
        .windows(2)
        .map(|w| v[w[0] as usize..w[1] as usize].to_vec())
        .collect())
}

impl Stored {
    fn block(&self, reader: &mut FileReader<BufReader<File>>, i: usize) -> Result<Customers> {
        let what = self.customers_file.display().to_string();
        reader.set_index(i)?;
        let b = reader
            .next()
            .ok_or_else(|| io(&what, format!("no block {i}")))??;
        let column = |name: &str| {
            b.column_by_name(name)
                .cloned()
                .ok_or_else(|| io(&what, format!("no column {name}")))
        };
        let bought = list_rows::<UInt32Type>(&column("bought")?, &what)?;
        Ok(Customers {
            ids: column("customer_id")?
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap_or_default().to_string())
                .collect(),
            items: match b.column_by_name("items") {
                Some(c) => list_rows::<UInt32Type>(c, &what)?,
                None => bought.clone(),
            },
            bought,
            factors: match b.column_by_name("factors") {
                Some(c) => factors(c, &what)?.1,
                None => Vec::new(),
            },
        })
    }

    /// The block that would hold `id`, and its place there; None when the
    /// model has no such customer.
    pub fn customer(&self, id: &str) -> Result<Option<(Customers, usize)>> {
        let firsts = &self.trained.info.firsts;
        let after = firsts.partition_point(|f| f.as_str() <= id);
        if after == 0 {
            return Ok(None);
        }
        let mut reader = open_ipc(&self.customers_file)?;
        let block = self.block(&mut reader, after - 1)?;
        Ok(block.find(id).map(|c| (block, c)))
    }

    /// Every block, in id order, to `each`.
    pub fn each_block(&self, mut each: impl FnMut(Customers) -> Result<()>) -> Result<()> {
        let mut reader = open_ipc(&self.customers_file)?;
        for i in 0..reader.num_batches() {
            each(self.block(&mut reader, i)?)?;
        }
        Ok(())
    }
}

impl ModelInfo {
    pub(crate) fn new(model: RecModel, event_weights: BTreeMap<String, f32>) -> ModelInfo {
        ModelInfo {
            model,
            trained_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            data_version: BTreeMap::new(),
            event_weights,
            customers: 0,
            products: 0,
            interactions: 0,
            fit_seconds: 0.0,
            files: Default::default(),
            firsts: Vec::new(),
        }
    }
}
