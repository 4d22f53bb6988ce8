//! fabricsim's C ABI: build a fabric from spec text (TOML or JSON), run
//! message traffic given as arrays, read the per-message results and the
//! link counters, read the last error's message, free what was made.
//!
//! Every function returns a status code (`FS_OK` or an `FS_ERR_*`) or a
//! pointer that is null on error; `fs_last_error` then says why (one
//! message per thread, valid until the thread's next call). No panic
//! crosses the boundary: each entry point runs under `catch_unwind`.
//! The header is fabricsim.h beside this crate, generated from this file
//! by cbindgen (`make capi-header`) and checked in.

use fabricsim_core::error::Error;
use fabricsim_core::result::RunResult;
use fabricsim_core::spec::{self, parse, FabricSpec, RunOptions};
use fabricsim_core::traffic::MessageTraffic;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Success.
pub const FS_OK: i32 = 0;
/// A null pointer where a value was needed.
pub const FS_ERR_NULL: i32 = 1;
/// Bad input: spec text, traffic, lengths (the message names the field).
pub const FS_ERR_SPEC: i32 = 2;
/// The run stopped: a deadlock or a run limit (the message says which).
pub const FS_ERR_RUN: i32 = 3;
/// A defect inside fabricsim (a panic caught at the boundary).
pub const FS_ERR_INTERNAL: i32 = 4;

/// A fabric spec, validated (opaque).
pub struct FsFabric {
    spec: FabricSpec,
}

/// The outcome of a run (opaque).
pub struct FsResult {
    run: RunResult,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

/// Runs `f` with panics caught: its status, or `FS_ERR_INTERNAL`.
fn guarded(f: impl FnOnce() -> Result<(), (i32, String)>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => FS_OK,
        Ok(Err((code, message))) => {
            set_error(&message);
            code
        }
        Err(_) => {
            set_error("internal error: a panic inside fabricsim (a defect; please report it)");
            FS_ERR_INTERNAL
        }
    }
}

fn spec_error(e: Error) -> (i32, String) {
    (FS_ERR_SPEC, e.to_string())
}

fn null(name: &str) -> (i32, String) {
    (FS_ERR_NULL, format!("{name}: must not be null"))
}

/// The message of the last error on this thread ("" if none). Owned by
/// fabricsim: valid until the thread's next fabricsim call; do not free.
#[no_mangle]
pub extern "C" fn fs_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// A fabric from spec `text` in `format` ("toml": a fabric file like
/// specs/fabric/*.toml; "json": the canonical JSON of `Fabric._json`).
/// Writes the new fabric to `*out` (free it with `fs_fabric_free`).
///
/// # Safety
/// `text` and `format` must be null or NUL-terminated strings; `out` must be
/// null or point to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn fs_fabric_new(
    text: *const c_char,
    format: *const c_char,
    out: *mut *mut FsFabric,
) -> i32 {
    guarded(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: checked non-null above; the caller gives storage for a pointer.
        unsafe { *out = std::ptr::null_mut() };
        let text = unsafe { c_str(text, "text")? };
        let format = unsafe { c_str(format, "format")? };
        let json = match format {
            "toml" => spec::toml_to_json("fabric", text, "fabric").map_err(spec_error)?,
            "json" => text.to_string(),
            other => {
                return Err((
                    FS_ERR_SPEC,
                    format!("format: must be \"toml\" or \"json\", got {other:?}"),
                ))
            }
        };
        let spec: FabricSpec = parse::from_json(&json, "fabric").map_err(spec_error)?;
        spec.validate().map_err(spec_error)?;
        let fabric = Box::new(FsFabric { spec });
        // SAFETY: checked non-null above.
        unsafe { *out = Box::into_raw(fabric) };
        Ok(())
    })
}

/// # Safety
/// `ptr` must be null or a NUL-terminated string.
unsafe fn c_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, (i32, String)> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-null, NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| (FS_ERR_SPEC, format!("{name}: must be UTF-8")))
}

/// The number of endpoints of `fabric` (0 if it is null).
///
/// # Safety
/// `fabric` must be null or a fabric from `fs_fabric_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fs_fabric_endpoints(fabric: *const FsFabric) -> usize {
    // SAFETY: null or a live fabric, by the caller's contract.
    unsafe { fabric.as_ref() }.map_or(0, |f| f.spec.topology.num_endpoints())
}

/// Frees a fabric (null is allowed and does nothing).
///
/// # Safety
/// `fabric` must be null or a fabric from `fs_fabric_new`, freed once.
#[no_mangle]
pub unsafe extern "C" fn fs_fabric_free(fabric: *mut FsFabric) {
    if !fabric.is_null() {
        // SAFETY: made by Box::into_raw in fs_fabric_new, freed once.
        drop(unsafe { Box::from_raw(fabric) });
    }
}

/// # Safety
/// `ptr` must be null (then `n` must be 0 or the call fails) or point to `n`
/// readable values.
unsafe fn column<'a, T>(ptr: *const T, n: usize, name: &str) -> Result<&'a [T], (i32, String)> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-null and `n` readable values by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// Runs `n` messages on `fabric`: message `i` from endpoint `src[i]` to
/// `dst[i]`, `bytes[i]` bytes, offered at `inject_ps[i]` (null: all at 0) on
/// VC `vc[i]` (null: all on 0), with random streams from `seed`. Writes the
/// result to `*out` (free it with `fs_result_free`); a run that stops (a
/// deadlock, a run limit) returns `FS_ERR_RUN`.
///
/// # Safety
/// `fabric` must be null or a live fabric; `src`, `dst`, `bytes` must be
/// null or point to `n` values each, `inject_ps` and `vc` null or `n`
/// values; `out` null or storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn fs_run_messages(
    fabric: *const FsFabric,
    n: usize,
    src: *const u32,
    dst: *const u32,
    bytes: *const u64,
    inject_ps: *const u64,
    vc: *const u32,
    seed: u64,
    out: *mut *mut FsResult,
) -> i32 {
    guarded(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: checked non-null above.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: null or a live fabric, by the caller's contract.
        let fabric = unsafe { fabric.as_ref() }.ok_or_else(|| null("fabric"))?;
        let traffic = MessageTraffic {
            src: unsafe { column(src, n, "src")? }.to_vec(),
            dst: unsafe { column(dst, n, "dst")? }.to_vec(),
            bytes: unsafe { column(bytes, n, "bytes")? }.to_vec(),
            inject_ps: if inject_ps.is_null() {
                vec![0; n]
            } else {
                unsafe { column(inject_ps, n, "inject_ps")? }.to_vec()
            },
            vc: if vc.is_null() {
                vec![0; n]
            } else {
                unsafe { column(vc, n, "vc")? }.to_vec()
            },
        };
        let opts = RunOptions {
            seed,
            ..RunOptions::default()
        };
        let run =
            fabricsim_core::fabric::run_messages(&fabric.spec, &traffic, &opts).map_err(|e| {
                let code = if matches!(e, Error::Spec { .. }) {
                    FS_ERR_SPEC
                } else {
                    FS_ERR_RUN
                };
                (code, e.to_string())
            })?;
        // SAFETY: checked non-null above.
        unsafe { *out = Box::into_raw(Box::new(FsResult { run })) };
        Ok(())
    })
}

/// Frees a result (null is allowed and does nothing).
///
/// # Safety
/// `result` must be null or a result from `fs_run_messages`, freed once.
#[no_mangle]
pub unsafe extern "C" fn fs_result_free(result: *mut FsResult) {
    if !result.is_null() {
        // SAFETY: made by Box::into_raw in fs_run_messages, freed once.
        drop(unsafe { Box::from_raw(result) });
    }
}

/// Messages in `result` (0 if it is null).
///
/// # Safety
/// `result` must be null or a live result.
#[no_mangle]
pub unsafe extern "C" fn fs_result_messages(result: *const FsResult) -> usize {
    // SAFETY: null or a live result.
    unsafe { result.as_ref() }.map_or(0, |r| r.run.deliver_ps.len())
}

/// Link directions in `result` (0 if it is null).
///
/// # Safety
/// `result` must be null or a live result.
#[no_mangle]
pub unsafe extern "C" fn fs_result_links(result: *const FsResult) -> usize {
    // SAFETY: null or a live result.
    unsafe { result.as_ref() }.map_or(0, |r| r.run.links.len())
}

/// The end of the simulated window, ps (0 if `result` is null).
///
/// # Safety
/// `result` must be null or a live result.
#[no_mangle]
pub unsafe extern "C" fn fs_result_end_ps(result: *const FsResult) -> u64 {
    // SAFETY: null or a live result.
    unsafe { result.as_ref() }.map_or(0, |r| r.run.end_ps)
}

/// Copies per-message times into arrays of `len` values (`len` must equal
/// `fs_result_messages`): when its first flit went on the wire and when its
/// last flit was delivered, ps (`UINT64_MAX`: not reached). Either array
/// may be null (not wanted).
///
/// # Safety
/// `result` must be null or a live result; each non-null array must have
/// room for `len` values.
#[no_mangle]
pub unsafe extern "C" fn fs_result_message_times(
    result: *const FsResult,
    send_ps: *mut u64,
    deliver_ps: *mut u64,
    len: usize,
) -> i32 {
    guarded(|| {
        // SAFETY: null or a live result.
        let r = unsafe { result.as_ref() }.ok_or_else(|| null("result"))?;
        let n = r.run.deliver_ps.len();
        if len != n {
            return Err((
                FS_ERR_SPEC,
                format!("len: must be the result's {n} messages, got {len}"),
            ));
        }
        for (ptr, values) in [(send_ps, &r.run.send_ps), (deliver_ps, &r.run.deliver_ps)] {
            if !ptr.is_null() {
                // SAFETY: room for `len` values by the caller's contract.
                unsafe { std::slice::from_raw_parts_mut(ptr, n) }.copy_from_slice(values);
            }
        }
        Ok(())
    })
}

/// Copies per-link-direction counters into arrays of `len` values (`len`
/// must equal `fs_result_links`): its ends (`src`, `dst`: endpoints
/// `0..endpoints`, then routers), flits sent and payload bytes carried.
/// Any array may be null (not wanted).
///
/// # Safety
/// `result` must be null or a live result; each non-null array must have
/// room for `len` values.
#[no_mangle]
pub unsafe extern "C" fn fs_result_link_counters(
    result: *const FsResult,
    src: *mut u32,
    dst: *mut u32,
    flits: *mut u64,
    payload_bytes: *mut u64,
    len: usize,
) -> i32 {
    guarded(|| {
        // SAFETY: null or a live result.
        let r = unsafe { result.as_ref() }.ok_or_else(|| null("result"))?;
        let links = &r.run.links;
        if len != links.len() {
            return Err((
                FS_ERR_SPEC,
                format!(
                    "len: must be the result's {} link directions, got {len}",
                    links.len()
                ),
            ));
        }
        for (i, l) in links.iter().enumerate() {
            // SAFETY: room for `len` values in each non-null array (i < len).
            unsafe {
                if !src.is_null() {
                    *src.add(i) = l.src;
                }
                if !dst.is_null() {
                    *dst.add(i) = l.dst;
                }
                if !flits.is_null() {
                    *flits.add(i) = l.flits;
                }
                if !payload_bytes.is_null() {
                    *payload_bytes.add(i) = l.payload_bytes;
                }
            }
        }
        Ok(())
    })
}
