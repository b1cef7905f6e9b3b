/* pcapline.read._native: the read stage's per-record loops and the facts stage's scans in C
 * (optional).
 *
 * The Python walkers in pcap.py and pcapng.py are the reference implementation: every
 * function here does exactly what one of their loops does, only without one interpreted
 * iteration per record (about 0.8 us each; 2 s on a 2.5 M-packet capture). They return
 * plain Python objects (bytearray of int64 offsets, ints) that the callers wrap with numpy;
 * no numpy C API, so the module builds against any numpy.
 *
 * Captures are untrusted input: every read is checked against the buffer's length before
 * it happens, and the arithmetic on lengths from the file is arranged so it cannot
 * overflow (a length is compared with "size - offset", never added to an offset first).
 * tests/read/test_native.py runs both implementations over sample, corpus and
 * hypothesis-generated damaged captures and requires identical results.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* A 32-bit word of the capture at p, in the file's byte order (byte by byte: no alignment
 * or host byte order assumptions). */
static uint32_t
word32(const unsigned char *p, int big_endian)
{
    if (big_endian)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* A growing array of int64 offsets (the records found so far). */
typedef struct {
    int64_t *items;
    Py_ssize_t len;
    Py_ssize_t cap;
} Offsets;

/* Append one offset; -1 (no Python error set: the caller holds no GIL) when out of memory. */
static int
offsets_append(Offsets *o, int64_t value)
{
    if (o->len == o->cap) {
        Py_ssize_t cap = o->cap ? o->cap * 2 : 4096;
        int64_t *items;
        if ((size_t)cap > PY_SSIZE_T_MAX / sizeof(int64_t))
            return -1;
        items = realloc(o->items, (size_t)cap * sizeof(int64_t));
        if (items == NULL)
            return -1;
        o->items = items;
        o->cap = cap;
    }
    o->items[o->len++] = value;
    return 0;
}

/* The offsets as a bytearray (what numpy.frombuffer(..., int64) reads, writable like the
 * array('q') the Python walkers build); frees the C array. */
static PyObject *
offsets_finish(Offsets *o)
{
    PyObject *out = PyByteArray_FromStringAndSize(
        (const char *)o->items, o->len * (Py_ssize_t)sizeof(int64_t));
    free(o->items);
    o->items = NULL;
    return out;
}

/* walk_pcap(data, big_endian, rec_len, first, final, max_len) -> (offsets, stop, end)
 *
 * read/pcap.py::_walk_python: the offset of every classic pcap record header from `first`
 * on, following only each record's incl_len. `stop` is the incl_len that stopped the walk
 * (bigger than max_len: a damaged file), else None; `end` is where the next window starts.
 * Outside the `final` window a record cut by the window's end is left for the next one;
 * in the final window a record header the file ends in is still a record. */
static PyObject *
walk_pcap(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer view;
    int big_endian, final;
    Py_ssize_t rec_len, first;
    unsigned long max_len;
    if (!PyArg_ParseTuple(args, "y*pnnpk", &view, &big_endian, &rec_len, &first, &final,
                          &max_len))
        return NULL;
    /* A negative start would read before the buffer; the bounds keep "off += rec_len +
     * incl" from overflowing (see the loop). pcap.py passes 16 or 24 and 262144. */
    if (first < 0 || rec_len < 16 || rec_len > 1024 || max_len > (1UL << 30)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError,
                        "walk_pcap: first >= 0, 16 <= rec_len <= 1024, max_len <= 2**30");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    const Py_ssize_t size = view.len;
    Offsets offsets = {NULL, 0, 0};
    Py_ssize_t off = first;
    int stopped = 0, no_memory = 0, pop_empty = 0, overflow = 0;
    uint32_t stop_len = 0;

    Py_BEGIN_ALLOW_THREADS
    /* The loop reads bytes off+8..off+11 (incl_len), so it runs while a 16-byte classic
     * record header fits: off <= size - 16, written so that it cannot overflow. */
    while (size >= 16 && off <= size - 16) {
        uint32_t incl = word32(buf + off + 8, big_endian);
        if (incl > max_len) {
            stopped = 1;
            stop_len = incl;
            break;
        }
        if (offsets_append(&offsets, off) < 0) {
            no_memory = 1;
            break;
        }
        /* off <= size, rec_len <= 1024 and incl <= max_len <= 1 GiB: the sum overflows
         * only a 32-bit Py_ssize_t, and only for a buffer of nearly 2 GiB; refuse it. */
        if ((Py_ssize_t)incl > PY_SSIZE_T_MAX - rec_len - off) {
            overflow = 1;
            break;
        }
        off += rec_len + (Py_ssize_t)incl;
    }
    if (!stopped && !no_memory && !overflow) {
        if (off > size && !final) {
            /* Its captured bytes are cut by the window: the next window's first record. */
            if (offsets.len == 0)
                pop_empty = 1;
            else
                off = offsets.items[--offsets.len];
        }
        else if (off < size && final) {
            /* The file ends inside this record header: a frame whose header is cut. */
            if (offsets_append(&offsets, off) < 0)
                no_memory = 1;
        }
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&view);
    if (no_memory || pop_empty || overflow) {
        free(offsets.items);
        if (pop_empty) /* what array.pop() says in the Python walker */
            PyErr_SetString(PyExc_IndexError, "pop from empty array");
        else if (overflow)
            PyErr_SetString(PyExc_OverflowError, "walk_pcap: record offset overflows");
        else
            PyErr_NoMemory();
        return NULL;
    }
    PyObject *found = offsets_finish(&offsets);
    if (found == NULL)
        return NULL;
    if (stopped)
        return Py_BuildValue("(Nkn)", found, (unsigned long)stop_len, off);
    return Py_BuildValue("(NOn)", found, Py_None, off);
}

/* epb_run(data, off, big_endian, max_len) -> (offsets, end)
 *
 * read/pcapng.py::PcapngWalker._walk's common case, repeated: from `off`, the offsets of
 * consecutive complete Enhanced Packet Blocks (type 6, 32 <= length <= max_len, a multiple
 * of 4, wholly inside the buffer). Stops at the first block that is anything else (or where
 * fewer than 8 bytes are left) and returns its offset; the Python walker handles that
 * block. */
static PyObject *
epb_run(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer view;
    Py_ssize_t off;
    int big_endian;
    unsigned long max_len;
    if (!PyArg_ParseTuple(args, "y*npk", &view, &off, &big_endian, &max_len))
        return NULL;
    if (off < 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "epb_run: off >= 0 required");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    const Py_ssize_t size = view.len;
    Offsets offsets = {NULL, 0, 0};
    int no_memory = 0;

    Py_BEGIN_ALLOW_THREADS
    /* Block type and total length are the first 8 bytes: read only while they fit. */
    while (size >= 8 && off <= size - 8) {
        uint32_t btype = word32(buf + off, big_endian);
        uint32_t blen = word32(buf + off + 4, big_endian);
        /* The Python walker's test for a complete EPB, in the same order; the last
         * comparison is "off + blen <= size" without the addition. */
        if (!(btype == 6 && blen >= 32 && blen <= max_len && !(blen & 3)
              && (Py_ssize_t)blen <= size - off))
            break;
        if (offsets_append(&offsets, off) < 0) {
            no_memory = 1;
            break;
        }
        off += (Py_ssize_t)blen;
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&view);
    if (no_memory) {
        free(offsets.items);
        return PyErr_NoMemory();
    }
    PyObject *found = offsets_finish(&offsets);
    if (found == NULL)
        return NULL;
    return Py_BuildValue("(Nn)", found, off);
}

/* gather_rows(data, pos, width, out) -> bool
 *
 * read/capture.py::gather_rows: copies the `width` bytes at each position of `pos` (native
 * int64) from `data` into row i of `out` (n * width bytes, writable). Returns False, having
 * copied some rows or none, when a position is outside 0 .. len(data) - width: the caller
 * then takes the numpy path, so out-of-range positions behave exactly as they do there. */
static PyObject *
gather_rows(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer data, pos, out;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*y*nw*", &data, &pos, &width, &out))
        return NULL;
    const Py_ssize_t n = pos.len / (Py_ssize_t)sizeof(int64_t);
    /* The shapes must agree, or a row would be copied past the end of `out`. */
    if (width <= 0 || pos.len % (Py_ssize_t)sizeof(int64_t) != 0 || n > PY_SSIZE_T_MAX / width
        || out.len != n * width) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&pos);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "gather_rows: out must hold len(pos) rows of width");
        return NULL;
    }
    const unsigned char *src = data.buf;
    const unsigned char *at = pos.buf;
    unsigned char *dst = out.buf;
    const Py_ssize_t last = data.len - width; /* the last position a whole row fits at */
    int in_range = 1;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t p;
        memcpy(&p, at + i * (Py_ssize_t)sizeof(int64_t), sizeof p); /* pos may be unaligned */
        if (p < 0 || p > (int64_t)last) {
            in_range = 0;
            break;
        }
        memcpy(dst + i * width, src + p, (size_t)width);
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    PyBuffer_Release(&pos);
    PyBuffer_Release(&out);
    return PyBool_FromLong(in_range);
}

/* ------------------------------------------------------------------------------------------
 * Whole-capture scans of facts.py and duplicates.py.
 *
 * numpy does each of these as several full passes (a gather into direction order, a cumsum
 * or ufunc.accumulate, a repeat, a scatter back: each one a new array of every segment);
 * here each is one walk over the rows. They hold no TCP rule: facts.py says what is scanned
 * and why, and keeps the numpy version of each scan as the reference (tests/test_facts_native.py
 * runs both over real captures and requires identical columns).
 *
 * Arrays arrive as raw buffers (int64 columns; bool columns as one byte each) whose lengths
 * are checked here; every row index read from one is checked against the row count before
 * it is used, so a wrong caller gets a ValueError, never a read out of bounds.
 */

/* A buffer holding exactly n values of `size` bytes. */
static int
check_len(Py_buffer *b, Py_ssize_t n, Py_ssize_t size, const char *what)
{
    if (b->len != n * size) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", what, b->len, n * size);
        return -1;
    }
    return 0;
}

static void
release_all(Py_buffer **views, int count)
{
    for (int i = 0; i < count; i++)
        if (views[i]->obj != NULL)
            PyBuffer_Release(views[i]);
}

/* The kernel's (s32) of a difference: two's complement wrap into [-2**31, 2**31)
 * (seqnum.signed). */
static inline int64_t
signed32(int64_t delta)
{
    return (int64_t)(int32_t)(uint32_t)(uint64_t)delta;
}

static PyObject *
index_error(void)
{
    PyErr_SetString(PyExc_ValueError, "row or key index out of range");
    return NULL;
}

/* unwrap_runs(values, run_base, keys, order, valid, out) -> None
 *
 * facts.py::_unwrap (seqnum.unwrap per direction): walks the rows in `order`, skipping rows
 * whose `valid` byte is 0; a run is the valid rows of one key. A run's first row gets
 * signed(values - run_base[key]), each later row the previous row's result plus
 * signed(values - previous value). Writes `out` at valid rows only. */
static PyObject *
unwrap_runs(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer values = {0}, run_base = {0}, keys = {0}, order = {0}, valid = {0}, out = {0};
    Py_buffer *all[] = {&values, &run_base, &keys, &order, &valid, &out};
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*", &values, &run_base, &keys, &order, &valid, &out))
        goto fail;
    const Py_ssize_t n = values.len / 8, n_keys = run_base.len / 8;
    if (check_len(&values, n, 8, "values") || check_len(&run_base, n_keys, 8, "run_base")
        || check_len(&keys, n, 8, "keys") || check_len(&order, n, 8, "order")
        || check_len(&valid, n, 1, "valid") || check_len(&out, n, 8, "out"))
        goto fail;
    const int64_t *v = values.buf, *base = run_base.buf, *k = keys.buf, *o = order.buf;
    const unsigned char *ok = valid.buf;
    int64_t *dst = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t prev_key = -1, prev_value = 0, total = 0;
    int started = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        int64_t i = o[j];
        if (i < 0 || i >= n) { bad = 1; break; }
        if (!ok[i])
            continue;
        int64_t key = k[i];
        if (key < 0 || key >= n_keys) { bad = 1; break; }
        if (!started || key != prev_key)
            total = signed32(v[i] - base[key]);
        else
            total += signed32(v[i] - prev_value);
        dst[i] = total;
        prev_key = key;
        prev_value = v[i];
        started = 1;
    }
    Py_END_ALLOW_THREADS
    release_all(all, 6);
    if (bad)
        return index_error();
    Py_RETURN_NONE;
fail:
    release_all(all, 6);
    return NULL;
}

/* exclusive_running_max(values, keys, order, fallback, out) -> None
 *
 * facts.py::_exclusive_running_max: walks the rows in `order` (each key's rows together); at
 * each row, the max of `values` over the earlier rows of its key, `fallback` at a key's
 * first row. */
static PyObject *
exclusive_running_max(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer values = {0}, keys = {0}, order = {0}, fallback = {0}, out = {0};
    Py_buffer *all[] = {&values, &keys, &order, &fallback, &out};
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &values, &keys, &order, &fallback, &out))
        goto fail;
    const Py_ssize_t n = values.len / 8;
    if (check_len(&values, n, 8, "values") || check_len(&keys, n, 8, "keys")
        || check_len(&order, n, 8, "order") || check_len(&fallback, n, 8, "fallback")
        || check_len(&out, n, 8, "out"))
        goto fail;
    const int64_t *v = values.buf, *k = keys.buf, *o = order.buf, *fb = fallback.buf;
    int64_t *dst = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t prev_key = 0, run = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        int64_t i = o[j];
        if (i < 0 || i >= n) { bad = 1; break; }
        if (j == 0 || k[i] != prev_key) {
            dst[i] = fb[i];
            run = v[i];
        }
        else {
            dst[i] = run;
            if (v[i] > run)
                run = v[i];
        }
        prev_key = k[i];
    }
    Py_END_ALLOW_THREADS
    release_all(all, 5);
    if (bad)
        return index_error();
    Py_RETURN_NONE;
fail:
    release_all(all, 5);
    return NULL;
}

/* peer_scan(values, valid, side, group, unknown, take_max, out) -> None
 *
 * facts.py::_peer_running_max / _peer_last: rows in order, each group's rows together (a
 * connection), `side` 0 or 1 per row (from_client). At each row: over the earlier rows of its
 * group sent by the other side whose `valid` byte is set, the largest value (take_max) or the
 * latest one; `unknown` when there is none. */
static PyObject *
peer_scan(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer values = {0}, valid = {0}, side = {0}, group = {0}, out = {0};
    Py_buffer *all[] = {&values, &valid, &side, &group, &out};
    long long unknown;
    int take_max;
    if (!PyArg_ParseTuple(args, "y*y*y*y*Lpw*", &values, &valid, &side, &group, &unknown,
                          &take_max, &out))
        goto fail;
    const Py_ssize_t n = values.len / 8;
    if (check_len(&values, n, 8, "values") || check_len(&valid, n, 1, "valid")
        || check_len(&side, n, 1, "side") || check_len(&group, n, 8, "group")
        || check_len(&out, n, 8, "out"))
        goto fail;
    const int64_t *v = values.buf, *g = group.buf;
    const unsigned char *ok = valid.buf, *s = side.buf;
    int64_t *dst = out.buf;
    Py_BEGIN_ALLOW_THREADS
    int64_t seen[2] = {0, 0}, prev_group = 0;
    int has[2] = {0, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i == 0 || g[i] != prev_group)
            has[0] = has[1] = 0;
        prev_group = g[i];
        const int mine = s[i] != 0;
        dst[i] = has[!mine] ? seen[!mine] : (int64_t)unknown;
        if (ok[i]) {
            if (!has[mine] || !take_max || v[i] > seen[mine])
                seen[mine] = v[i];
            has[mine] = 1;
        }
    }
    Py_END_ALLOW_THREADS
    release_all(all, 5);
    Py_RETURN_NONE;
fail:
    release_all(all, 5);
    return NULL;
}

/* identical_pairs(keys, group, order, time_ns, window_ns) -> (later, earlier)
 *
 * duplicates.py::_identical_pairs: walks the rows in `order` (each direction's rows
 * together, frame order inside); a row pairs with the row one before it in that walk, else
 * with the row two before, when that row has the same `group`, every column of `keys` (a
 * tuple of int64 columns) equal, and is less than `window_ns` earlier. The pairs come in walk
 * order, as two bytearrays of int64 rows. */
#define MAX_KEYS 16
static PyObject *
identical_pairs(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *key_tuple;
    Py_buffer group = {0}, order = {0}, times = {0};
    Py_buffer key_views[MAX_KEYS];
    Py_buffer *all[] = {&group, &order, &times};
    Py_ssize_t n_keys = 0, got_keys = 0;
    long long window;
    Offsets later = {NULL, 0, 0}, earlier = {NULL, 0, 0};
    memset(key_views, 0, sizeof key_views);
    if (!PyArg_ParseTuple(args, "O!y*y*y*L", &PyTuple_Type, &key_tuple, &group, &order,
                          &times, &window))
        goto fail;
    const Py_ssize_t n = group.len / 8;
    n_keys = PyTuple_GET_SIZE(key_tuple);
    if (n_keys > MAX_KEYS) {
        PyErr_SetString(PyExc_ValueError, "identical_pairs: at most 16 key columns");
        goto fail;
    }
    const int64_t *cols[MAX_KEYS];
    for (; got_keys < n_keys; got_keys++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(key_tuple, got_keys), &key_views[got_keys],
                               PyBUF_SIMPLE) < 0)
            goto fail;
        if (check_len(&key_views[got_keys], n, 8, "key"))
            goto fail;
        cols[got_keys] = key_views[got_keys].buf;
    }
    if (check_len(&group, n, 8, "group") || check_len(&order, n, 8, "order")
        || check_len(&times, n, 8, "time_ns"))
        goto fail;
    const int64_t *g = group.buf, *o = order.buf, *t = times.buf;
    int bad = 0, no_memory = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < n; j++) {
        int64_t i = o[j];
        if (i < 0 || i >= n) { bad = 1; break; }
        for (Py_ssize_t lag = 1; lag <= 2 && lag <= j; lag++) {
            int64_t e = o[j - lag];
            if (e < 0 || e >= n) { bad = 1; break; }
            if (g[e] != g[i] || !(t[i] - t[e] < window))
                continue;
            Py_ssize_t c = 0;
            while (c < n_keys && cols[c][i] == cols[c][e])
                c++;
            if (c < n_keys)
                continue;
            if (offsets_append(&later, i) < 0 || offsets_append(&earlier, e) < 0)
                no_memory = 1;
            break; /* the nearest original only */
        }
        if (bad || no_memory)
            break;
    }
    Py_END_ALLOW_THREADS
    for (Py_ssize_t c = 0; c < got_keys; c++)
        PyBuffer_Release(&key_views[c]);
    release_all(all, 3);
    if (bad || no_memory) {
        free(later.items);
        free(earlier.items);
        return bad ? index_error() : PyErr_NoMemory();
    }
    PyObject *a = offsets_finish(&later);
    PyObject *b = offsets_finish(&earlier);
    if (a == NULL || b == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        return NULL;
    }
    return Py_BuildValue("(NN)", a, b);
fail:
    for (Py_ssize_t c = 0; c < got_keys; c++)
        PyBuffer_Release(&key_views[c]);
    release_all(all, 3);
    free(later.items);
    free(earlier.items);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * The decode stage's common frame: Ethernet II, IPv4, TCP (decode/ethernet_ipv4_tcp.py).
 *
 * One walk over the frames decodes those that are exactly that and nothing unusual: a
 * complete record of link type Ethernet, EtherType 0x0800 right after the MAC addresses, a
 * whole IPv4 header (version 4, IHL >= 5, total length >= IHL) that is no fragment and
 * carries TCP, and a whole TCP header whose data offset is >= 5 and fits the IP payload.
 * Every other frame (VLAN tags, IPv6, tunnels, ICMP, anything malformed or cut short) is
 * left to the numpy layers, which decide its columns or its skip reason as before; so this
 * holds no rule of its own: each test below is the numpy layers' test for the same field
 * (link.py, ip.py, tcp.py, options.py), and tests/decode/test_common_frames.py requires the
 * same segments table from both ways over sample, corpus and damaged captures.
 */

enum {
    CF_IDX, CF_SRC, CF_DST, CF_SPORT, CF_DPORT, CF_IP_ID, CF_TTL, CF_SEQ, CF_ACK, CF_FLAGS,
    CF_WINDOW, CF_SEG_LEN, CF_MSS, CF_WSCALE, CF_SACK_PERM, CF_HAS_TS, CF_TS_VAL, CF_TS_ECR,
    CF_SACK_BLOCKS, CF_SACK_LE, CF_SACK_RE, CF_PAYLOAD_AT, CF_COLUMNS
};
/* Bytes per value of each output column, in the order above (decode/ethernet_ipv4_tcp.py
 * COLUMNS). */
static const Py_ssize_t cf_size[CF_COLUMNS] = {
    8, 8, 8, 2, 2, 4, 1, 4, 4, 2, 2, 4, 2, 1, 1, 1, 4, 4, 1, 4, 4, 4,
};

static inline uint32_t
be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define CF_SET(column, type, row, value) (((type *)out[column].buf)[row] = (type)(value))

/* The option walk of options.py (tcp_options, _store, _store_sack) for one segment: one
 * option at a time from the start of the captured option bytes; EOL, a length < 2 or an
 * option running past them ends the list; a later option of a kind overwrites an earlier. */
static void
cf_options(const unsigned char *o, int64_t limit, uint32_t ack, Py_buffer *out, Py_ssize_t m)
{
    uint32_t mss = 0, ts_val = 0, ts_ecr = 0, sack_le = 0, sack_re = 0;
    int wscale = -1, sack_perm = 0, has_ts = 0, sack_blocks = 0;
    int64_t pos = 0;
    while (pos < limit) {
        unsigned kind = o[pos];
        if (kind == 1) { /* NOP */
            pos += 1;
            continue;
        }
        if (kind == 0 || pos + 1 >= limit)
            break;
        int64_t length = o[pos + 1];
        if (length < 2 || pos + length > limit)
            break;
        const unsigned char *v = o + pos + 2;
        if (kind == 2 && length == 4)
            mss = be16(v);
        else if (kind == 3 && length == 3)
            wscale = v[0] < 14 ? v[0] : 14; /* RFC 7323 2.3: a shift above 14 is 14 */
        else if (kind == 4 && length == 2)
            sack_perm = 1;
        else if (kind == 8 && length == 10) {
            has_ts = 1;
            ts_val = be32(v);
            ts_ecr = be32(v + 4);
        }
        else if (kind == 5 && length >= 10 && (length - 2) % 8 == 0) {
            /* The block reaching furthest past the ACK (wrap-safe), and the count. */
            int64_t count = (length - 2) / 8, best = -1;
            sack_blocks = count < 255 ? (int)count : 255;
            sack_le = sack_re = 0;
            for (int64_t b = 0; b < count; b++) {
                uint32_t le = be32(v + 8 * b), re = be32(v + 8 * b + 4);
                int64_t dist = (int64_t)(uint32_t)(re - ack);
                if (dist > best) {
                    best = dist;
                    sack_le = le;
                    sack_re = re;
                }
            }
        }
        pos += length;
    }
    CF_SET(CF_MSS, uint16_t, m, mss);
    CF_SET(CF_WSCALE, int8_t, m, wscale);
    CF_SET(CF_SACK_PERM, uint8_t, m, sack_perm);
    CF_SET(CF_HAS_TS, uint8_t, m, has_ts);
    CF_SET(CF_TS_VAL, uint32_t, m, ts_val);
    CF_SET(CF_TS_ECR, uint32_t, m, ts_ecr);
    CF_SET(CF_SACK_BLOCKS, uint8_t, m, sack_blocks);
    CF_SET(CF_SACK_LE, uint32_t, m, sack_le);
    CF_SET(CF_SACK_RE, uint32_t, m, sack_re);
}

static PyObject *
ethernet_ipv4_tcp(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer data = {0}, offset = {0}, caplen = {0}, origlen = {0}, link = {0}, cut = {0};
    Py_buffer out[CF_COLUMNS];
    PyObject *outputs;
    int got = 0;
    Py_ssize_t m = 0;
    memset(out, 0, sizeof out);
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*O!", &data, &offset, &caplen, &origlen, &link,
                          &cut, &PyTuple_Type, &outputs))
        return NULL;
    Py_buffer *inputs[] = {&data, &offset, &caplen, &origlen, &link, &cut};
    const Py_ssize_t n = offset.len / 8;
    if (check_len(&offset, n, 8, "offset") || check_len(&caplen, n, 8, "caplen")
        || check_len(&origlen, n, 8, "origlen") || check_len(&link, n, 4, "link_type")
        || check_len(&cut, n, 1, "truncated"))
        goto fail;
    if (PyTuple_GET_SIZE(outputs) != CF_COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "ethernet_ipv4_tcp: wrong number of output columns");
        goto fail;
    }
    for (; got < CF_COLUMNS; got++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(outputs, got), &out[got], PyBUF_WRITABLE) < 0)
            goto fail;
        if (check_len(&out[got], n, cf_size[got], "output column")) {
            got++;
            goto fail;
        }
    }
    const unsigned char *buf = data.buf;
    const int64_t size = (int64_t)data.len;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t start, cap, orig;
        int32_t link_type;
        memcpy(&start, (const char *)offset.buf + 8 * i, 8);
        memcpy(&cap, (const char *)caplen.buf + 8 * i, 8);
        memcpy(&orig, (const char *)origlen.buf + 8 * i, 8);
        memcpy(&link_type, (const char *)link.buf + 4 * i, 4);
        if (link_type != 1 || ((const unsigned char *)cut.buf)[i])
            continue; /* not Ethernet, or a record the file cut */
        if (start < 0 || cap < 0 || start > size || cap > size - start)
            continue; /* outside the buffer: the numpy layers decide */
        const int64_t end = start + cap;
        const int64_t wire_end = start + (orig > cap ? orig : cap);
        /* Ethernet II (link.py ethernet_frames): 14 bytes, EtherType IPv4 */
        if (end - start < 14 || be16(buf + start + 12) != 0x0800)
            continue;
        /* IPv4 (ip.py _ipv4) */
        const int64_t ip = start + 14;
        if (end - ip < 20)
            continue;
        const unsigned char *h = buf + ip;
        const int64_t ihl = (int64_t)(h[0] & 0x0F) * 4;
        const int64_t wire = wire_end - ip > 0 ? wire_end - ip : 0;
        int64_t total = be16(h + 2);
        /* 0 from TSO/GSO on the sender: the frame's wire length; never past the wire */
        total = total == 0 ? wire_end - ip : (total < wire ? total : wire);
        if ((h[0] >> 4) != 4 || ihl < 20 || total < ihl)
            continue; /* malformed */
        if (ip + ihl > end || (be16(h + 6) & 0x3FFF) != 0 || h[9] != 6)
            continue; /* options cut short, a fragment, or not TCP */
        /* TCP (tcp.py tcp_layer) */
        const int64_t l4 = ip + ihl, l4_len = total - ihl;
        if (end - l4 < 20)
            continue;
        const unsigned char *t = buf + l4;
        const int64_t doff = (int64_t)(t[12] >> 4) * 4;
        if (doff < 20 || doff > l4_len)
            continue;
        const uint32_t ack = be32(t + 8);
        CF_SET(CF_IDX, int64_t, m, i);
        CF_SET(CF_SRC, uint64_t, m, be32(h + 12));
        CF_SET(CF_DST, uint64_t, m, be32(h + 16));
        CF_SET(CF_SPORT, uint16_t, m, be16(t));
        CF_SET(CF_DPORT, uint16_t, m, be16(t + 2));
        CF_SET(CF_IP_ID, uint32_t, m, be16(h + 4));
        CF_SET(CF_TTL, uint8_t, m, h[8]);
        CF_SET(CF_SEQ, uint32_t, m, be32(t + 4));
        CF_SET(CF_ACK, uint32_t, m, ack);
        CF_SET(CF_FLAGS, uint16_t, m, be16(t + 12) & 0x01FF); /* the reserved bits dropped */
        CF_SET(CF_WINDOW, uint16_t, m, be16(t + 14));
        CF_SET(CF_SEG_LEN, uint32_t, m, l4_len - doff);
        CF_SET(CF_PAYLOAD_AT, uint32_t, m, l4 + doff - start);
        /* Options: the captured part of them (a snaplen may cut them; the segment stays). */
        const int64_t options_end = l4 + doff < end ? l4 + doff : end;
        cf_options(t + 20, options_end - (l4 + 20), ack, out, m);
        m++;
    }
    Py_END_ALLOW_THREADS

    for (int c = 0; c < got; c++)
        PyBuffer_Release(&out[c]);
    release_all(inputs, 6);
    return PyLong_FromSsize_t(m);
fail:
    for (int c = 0; c < got; c++)
        PyBuffer_Release(&out[c]);
    release_all(inputs, 6);
    return NULL;
}

static PyMethodDef methods[] = {
    {"walk_pcap", walk_pcap, METH_VARARGS,
     "Offsets of classic pcap records (read/pcap.py::_walk_python, in C)."},
    {"epb_run", epb_run, METH_VARARGS,
     "Offsets of a run of complete pcapng Enhanced Packet Blocks."},
    {"gather_rows", gather_rows, METH_VARARGS,
     "Copy fixed-width rows at positions into an output buffer; False when out of range."},
    {"unwrap_runs", unwrap_runs, METH_VARARGS,
     "Unwrapped 32-bit values along runs of rows (facts.py::_unwrap)."},
    {"exclusive_running_max", exclusive_running_max, METH_VARARGS,
     "Per key, the max of values over earlier rows (facts.py::_exclusive_running_max)."},
    {"peer_scan", peer_scan, METH_VARARGS,
     "Per row, the other side's largest or latest earlier value in its connection."},
    {"identical_pairs", identical_pairs, METH_VARARGS,
     "Rows identical to one of the two before them in their direction (duplicates.py)."},
    {"ethernet_ipv4_tcp", ethernet_ipv4_tcp, METH_VARARGS,
     "Segment columns of the Ethernet/IPv4/TCP frames (decode/ethernet_ipv4_tcp.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "pcapline.read._native",
    "The read stage's record walkers in C (optional; see pcapline.read.native).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModule_Create(&module);
}
