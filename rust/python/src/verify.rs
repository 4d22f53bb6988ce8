//! Binding of the schedule verifier: int64 byte columns in, each receive's
//! send (int64 bytes) out, or the failure as `(op, message)`.

use crate::{enter, i64_column, le_ints};
use fabricsim_core::collective_verify::{self, Kind, Symbolic};
use fabricsim_core::error::Error;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn narrow(col: Vec<i64>, name: &str) -> Result<Vec<i32>, Error> {
    col.into_iter()
        .enumerate()
        .map(|(i, v)| {
            i32::try_from(v).map_err(|_| {
                Error::spec(
                    format!("schedule.{name}[{i}]"),
                    format!("is out of range: {v}"),
                )
            })
        })
        .collect()
}

type Verified<'py> = (Bound<'py, PyBytes>, Option<(i64, String)>);

/// A column of little-endian `N`-byte integers (read from the bytes object
/// in place: extracting a `Vec<u8>` would go item by item).
fn ints<const N: usize, T>(
    col: &Bound<'_, PyBytes>,
    name: &str,
    from: fn([u8; N]) -> T,
) -> Result<Vec<T>, Error> {
    le_ints(col.as_bytes(), name, from)
}

/// Verifies a schedule symbolically (`collective_verify`); `match_only`
/// just pairs receives with sends. Columns: op (u8), rank, peer, a, b, out
/// (i32), tag, bytes, dep_ptr (i64), deps (i32), little-endian.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn verify_schedule<'py>(
    py: Python<'py>,
    kind: String,
    ranks: u32,
    helpers: u32,
    pieces: u32,
    root: u32,
    columns: Vec<Bound<'py, PyBytes>>,
    match_only: bool,
) -> PyResult<Verified<'py>> {
    let [op, rank, peer, a, b, o, tag, nbytes, dep_ptr, deps]: [Bound<'py, PyBytes>; 10] = columns
        .try_into()
        .map_err(|_| pyo3::exceptions::PyValueError::new_err("verify_schedule takes 10 columns"))?;
    let parsed = (|| -> Result<_, Error> {
        Ok((
            ints::<1, u8>(&op, "op", u8::from_le_bytes)?,
            [
                ints::<4, i32>(&rank, "rank", i32::from_le_bytes)?,
                ints::<4, i32>(&peer, "peer", i32::from_le_bytes)?,
                ints::<4, i32>(&a, "a", i32::from_le_bytes)?,
                ints::<4, i32>(&b, "b", i32::from_le_bytes)?,
                ints::<4, i32>(&o, "out", i32::from_le_bytes)?,
                ints::<4, i32>(&deps, "deps", i32::from_le_bytes)?,
            ],
            [
                ints::<8, i64>(&tag, "tag", i64::from_le_bytes)?,
                ints::<8, i64>(&nbytes, "bytes", i64::from_le_bytes)?,
                ints::<8, i64>(&dep_ptr, "dep_ptr", i64::from_le_bytes)?,
            ],
        ))
    })();
    let out = enter(py, move || {
        let (op, [rank, peer, a, b, o, deps], [tag, nbytes, dep_ptr]) = parsed?;
        let k = Kind::parse(&kind)
            .ok_or_else(|| Error::spec("kind", format!("is not a collective: {kind:?}")))?;
        let s = Symbolic {
            op: &op,
            rank: &rank,
            peer: &peer,
            a: &a,
            b: &b,
            out: &o,
            tag: &tag,
            bytes: &nbytes,
            dep_ptr: &dep_ptr,
            deps: &deps,
            kind: k,
            ranks,
            helpers,
            pieces,
            root,
        };
        let result = if match_only {
            collective_verify::match_receives(&s)
        } else {
            collective_verify::verify(&s)
        };
        Ok(match result {
            Ok(matched) => (matched, None),
            Err(f) => (Vec::new(), Some((f.op, f.message))),
        })
    })?;
    let (matched, failure) = out;
    let bytes: Vec<u8> = matched.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok((PyBytes::new(py, &bytes), failure))
}

/// `col` as a `bytearray` of its values' little-endian bytes.
fn le_bytearray<'py, T: Copy, const N: usize>(
    py: Python<'py>,
    col: &[T],
    le: impl Fn(T) -> [u8; N],
) -> PyResult<Bound<'py, pyo3::types::PyByteArray>> {
    pyo3::types::PyByteArray::new_with(py, col.len() * N, |buf| {
        for (out, &x) in buf.chunks_exact_mut(N).zip(col) {
            out.copy_from_slice(&le(x));
        }
        Ok(())
    })
}

/// Plans a schedule from its data movements (`collective_plan`): int64
/// byte columns in, the schedule's columns (little-endian, in their own
/// widths, as writable `bytearray`s) out by name.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn plan_schedule<'py>(
    py: Python<'py>,
    moves: Vec<Bound<'py, PyBytes>>,
    piece_bytes: &[u8],
    ranks: usize,
    scratch_base: i32,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let moves: [Vec<u8>; 6] = moves
        .iter()
        .map(|c| c.as_bytes().to_vec())
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| pyo3::exceptions::PyValueError::new_err("plan_schedule takes 6 columns"))?;
    let piece_bytes = piece_bytes.to_vec();
    let planned = enter(py, move || {
        let [kind, src, dst, buf, into, piece] = moves;
        let kind: Vec<u8> = i64_column(&kind, "kind")?
            .into_iter()
            .map(|v| v as u8)
            .collect();
        let cols = [
            narrow(i64_column(&src, "src")?, "src")?,
            narrow(i64_column(&dst, "dst")?, "dst")?,
            narrow(i64_column(&buf, "buf")?, "buf")?,
            narrow(i64_column(&into, "into")?, "into")?,
        ];
        let piece = i64_column(&piece, "piece")?;
        let piece_bytes = i64_column(&piece_bytes, "piece_bytes")?;
        let pieces = piece_bytes.len() as i64;
        let (rows, bad_rank) = (
            kind.len(),
            cols[..2]
                .iter()
                .flatten()
                .any(|&r| r < 0 || r as usize >= ranks),
        );
        if cols.iter().any(|c| c.len() != rows) || piece.len() != rows {
            return Err(Error::spec("moves", "the move columns differ in length"));
        }
        let bad_buffer = cols[2..]
            .iter()
            .flatten()
            .any(|&b| !(0..scratch_base).contains(&b));
        if bad_rank || bad_buffer || piece.iter().any(|&k| !(0..pieces).contains(&k)) {
            return Err(Error::spec(
                "moves",
                "a move names a rank, a buffer or a piece out of range",
            ));
        }
        let [src, dst, buf, into] = cols;
        let moves = fabricsim_core::collective_plan::Moves {
            kind: &kind,
            src: &src,
            dst: &dst,
            buf: &buf,
            into: &into,
            piece: &piece,
        };
        Ok(fabricsim_core::collective_plan::plan(
            &moves,
            &piece_bytes,
            ranks,
            scratch_base,
        ))
    })?;
    // little-endian columns in their own widths (op u8, the i32 ones, the i64
    // ones), written straight into writable Python buffers that numpy wraps
    // without a copy (at 5 M operations each copy was a tenth of a second)
    let d = pyo3::types::PyDict::new(py);
    d.set_item("op", le_bytearray(py, &planned.op, |x| x.to_le_bytes())?)?;
    for (name, col) in [
        ("rank", &planned.rank),
        ("peer", &planned.peer),
        ("a", &planned.a),
        ("b", &planned.b),
        ("out", &planned.out),
        ("deps", &planned.deps),
    ] {
        d.set_item(name, le_bytearray(py, col, |x| x.to_le_bytes())?)?;
    }
    for (name, col) in [
        ("tag", &planned.tag),
        ("bytes", &planned.bytes),
        ("dep_ptr", &planned.dep_ptr),
    ] {
        d.set_item(name, le_bytearray(py, col, |x| x.to_le_bytes())?)?;
    }
    Ok(d)
}
