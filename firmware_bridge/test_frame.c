/*
 * Host unit test of the reference encoder, and writer of the golden vectors.
 *
 *   ./test_frame OUTDIR   -> checks CRCs and layouts, writes OUTDIR/<name>.bin and
 *                            OUTDIR/vectors.json (what each file must decode to).
 *
 * `make test` writes into build/vectors and compares with the committed vectors/
 * (`make vectors` rewrites those on purpose), so a test run never rewrites files in
 * the source tree that a concurrent reader may be reading. Each file is written to
 * OUTDIR/<name>.tmp and renamed into place, and every write is checked: a full disk
 * fails this program instead of leaving an empty golden file behind.
 *
 * The Python tests (tests/test_bridge_codec.py) decode the same .bin files and
 * re-encode the same values, so C and Python stay byte-for-byte compatible.
 * (This test uses stdio; the encoder itself does not.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeemg_frame.h"

static int failures = 0;
#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                         \
            fprintf(stderr, "\n");                                \
            failures++;                                           \
        }                                                         \
    } while (0)

static const char *outdir;
static FILE *json;
static int n_vectors = 0;

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Close a file written to `tmp` and rename it to `path`; exit 2 naming the file on any error. */
static void finish_file(FILE *f, const char *tmp, const char *path) {
    if (ferror(f) | fclose(f) || rename(tmp, path) != 0) {
        perror(path);
        remove(tmp);
        exit(2);
    }
}

static FILE *open_tmp(const char *tmp) {
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        perror(tmp);
        exit(2);
    }
    return f;
}

static void write_bin(const char *name, const uint8_t *buf, size_t len) {
    char path[1024], tmp[1040];
    snprintf(path, sizeof path, "%s/%s.bin", outdir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = open_tmp(tmp);
    if (fwrite(buf, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    finish_file(f, tmp, path);
}

static void json_hex(const uint8_t *buf, size_t len) {
    fputc('"', json);
    for (size_t i = 0; i < len; i++) fprintf(json, "%02x", buf[i]);
    fputc('"', json);
}

/* Checks the invariants every frame must satisfy: sync, version, both CRCs, length. */
static void check_frame(const uint8_t *f, size_t len, uint8_t type, uint16_t seq) {
    CHECK(len >= EEF_OVERHEAD, "frame too short: %zu", len);
    CHECK(f[0] == 0xA5 && f[1] == 0x5A, "sync bytes");
    CHECK(f[2] == 1 && f[3] == type, "version/type");
    CHECK(get_u16(f + 4) == seq, "seq");
    CHECK(get_u16(f + 24) + EEF_OVERHEAD == len, "payload_len %u vs frame %zu", get_u16(f + 24), len);
    CHECK(eef_crc16_ccitt(0xFFFF, f, 26) == get_u16(f + 26), "header crc");
    CHECK(eef_crc32(0, f, len - 4) == get_u32(f + len - 4), "frame crc");
}

static void begin_vector(const char *name, const char *type, const uint8_t *buf, size_t len) {
    write_bin(name, buf, len);
    fprintf(json, "%s\n  {\"name\": \"%s\", \"file\": \"%s.bin\", \"type\": \"%s\", \"size\": %zu, \"crc32\": %lu, \"hex\": ",
            n_vectors ? "," : "", name, name, type, len, (unsigned long)get_u32(buf + len - 4));
    json_hex(buf, len);
    n_vectors++;
}

static void data_vector(const char *name, uint16_t seq, uint64_t ts, uint16_t ch, uint16_t ns, uint8_t fmt,
                        float scale, const void *samples, const char *fmt_name) {
    uint8_t buf[4096];
    size_t len = eef_encode_data(buf, sizeof buf, seq, ts, ch, ns, fmt, scale, samples);
    CHECK(len == eef_data_frame_size(ch, ns, fmt) && len > 0, "%s: encode returned %zu", name, len);
    CHECK(eef_encode_data(buf, len - 1, seq, ts, ch, ns, fmt, scale, samples) == 0, "%s: short buffer accepted", name);
    len = eef_encode_data(buf, sizeof buf, seq, ts, ch, ns, fmt, scale, samples);
    check_frame(buf, len, EEF_TYPE_DATA, seq);
    begin_vector(name, "data", buf, len);
    fprintf(json, ", \"seq\": %u, \"timestamp_us\": %llu, \"n_channels\": %u, \"n_samples\": %u, \"fmt\": \"%s\", \"scale_uv\": %.9g, \"values\": [",
            seq, (unsigned long long)ts, ch, ns, fmt_name, (double)scale);
    for (size_t i = 0; i < (size_t)ch * ns; i++) {
        if (i) fputs(", ", json);
        if (fmt == EEF_FMT_INT16) fprintf(json, "%d", ((const int16_t *)samples)[i]);
        else if (fmt == EEF_FMT_INT24) fprintf(json, "%ld", (long)((const int32_t *)samples)[i]);
        else fprintf(json, "%.9g", (double)((const float *)samples)[i]);
    }
    fputs("]}", json);
}

int main(int argc, char **argv) {
    outdir = argc > 1 ? argv[1] : "vectors";
    char path[1024], tmp[1040];
    snprintf(path, sizeof path, "%s/vectors.json", outdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    json = open_tmp(tmp);

    /* CRC catalogue check values (reveng.sourceforge.io/crc-catalogue). */
    const uint8_t check[] = "123456789";
    CHECK(eef_crc32(0, check, 9) == 0xCBF43926u, "crc32 check value");
    CHECK(eef_crc32(eef_crc32(0, check, 4), check + 4, 5) == 0xCBF43926u, "crc32 chunked");
    CHECK(eef_crc16_ccitt(0xFFFF, check, 9) == 0x29B1u, "crc16 check value");

    fputs("{\"protocol_version\": 1, \"note\": \"written by firmware_bridge/test_frame.c; values are counts, microvolts = count * float32(scale_uv)\", \"vectors\": [", json);

    /* int16: 8 channels x 4 samples, including both extremes and zero. */
    int16_t s16[32];
    for (int i = 0; i < 32; i++) s16[i] = (int16_t)(i * 1237 - 19000);
    s16[0] = 32767; s16[1] = -32768; s16[2] = 0; s16[3] = -1;
    data_vector("data_int16", 7, 123456789ull, 8, 4, EEF_FMT_INT16, 0.25f, s16, "int16");

    /* int24: 4 channels x 3 samples. */
    int32_t s24[12] = {8388607, -8388608, 0, -1, 1, 123456, -654321, 4660, -4661, 65536, -65537, 8000000};
    data_vector("data_int24", 65535, 0xFFFFFFFFFFull + 17, 4, 3, EEF_FMT_INT24, 0.015625f, s24, "int24");
    CHECK(eef_encode_data((uint8_t[64]){0}, 64, 0, 0, 1, 1, EEF_FMT_INT24, 1.0f, (int32_t[]){8388608}) == 0,
          "int24 out of range accepted");

    /* float32: 2 channels x 3 samples. */
    float sf[6] = {0.5f, -1.25f, 1000.0f, -3.0e-3f, 12345.678f, 0.0f};
    data_vector("data_float32", 0, 1ull << 40, 2, 3, EEF_FMT_FLOAT32, 1.0f, sf, "float32");

    /* device info */
    uint8_t buf[2048];
    eef_device_info info = {2048000u, 64, 16, EEF_FMT_INT16, 0.5f, "hdemg-13x5", "1.2.0-ref"};
    size_t len = eef_encode_device_info(buf, sizeof buf, 42, 5000000ull, &info);
    check_frame(buf, len, EEF_TYPE_DEVICE_INFO, 42);
    begin_vector("device_info", "device_info", buf, len);
    fprintf(json, ", \"seq\": 42, \"timestamp_us\": 5000000, \"fs_hz\": 2048.0, \"n_channels\": 64, \"samples_per_frame\": 16, \"fmt\": \"int16\", \"scale_uv\": 0.5, \"layout\": \"hdemg-13x5\", \"firmware\": \"1.2.0-ref\"}");

    /* error */
    len = eef_encode_error(buf, sizeof buf, 43, 5000100ull, 3, "ADC overrun");
    check_frame(buf, len, EEF_TYPE_ERROR, 43);
    begin_vector("error", "error", buf, len);
    fprintf(json, ", \"seq\": 43, \"timestamp_us\": 5000100, \"code\": 3, \"message\": \"ADC overrun\"}");

    /* A stream: garbage, seq 65534, 65535, 0, (1 is lost), 2, a frame 3 with a flipped
     * payload bit, garbage, 4. Expected: seqs 65534 65535 0 2 4; lost 2; crc_errors 3 (2 fake syncs + 1 flip). */
    uint8_t stream[4096];
    size_t pos = 0;
    const uint8_t garbage[] = {0x00, 0xA5, 0x13, 0xA5, 0xA5, 0x5A, 0x01, 0xFF};
    memcpy(stream + pos, garbage, sizeof garbage);
    pos += sizeof garbage;
    const uint16_t seqs[6] = {65534, 65535, 0, 2, 3, 4};
    size_t flipped_at = 0;
    for (int k = 0; k < 6; k++) {
        int16_t s[6];
        for (int i = 0; i < 6; i++) s[i] = (int16_t)(k * 100 + i);
        uint64_t ts = 1000000ull + (uint64_t)(unsigned)k * 1500ull + (k >= 3 ? 1500ull : 0ull);
        size_t n = eef_encode_data(stream + pos, sizeof stream - pos, seqs[k], ts, 2, 3, EEF_FMT_INT16, 0.25f, s);
        CHECK(n == 44, "stream frame size %zu", n);
        if (seqs[k] == 3) {
            flipped_at = pos + EEF_HEADER_SIZE + 5;
            stream[flipped_at] ^= 0x10;
        }
        pos += n;
        if (seqs[k] == 3) {
            memcpy(stream + pos, garbage, sizeof garbage);
            pos += sizeof garbage;
        }
    }
    write_bin("stream", stream, pos);
    fprintf(json, ",\n  {\"name\": \"stream\", \"file\": \"stream.bin\", \"type\": \"stream\", \"size\": %zu, "
                  "\"expect_seqs\": [65534, 65535, 0, 2, 4], \"expect_lost_frames\": 2, \"expect_crc_errors\": 3, \"crc_note\": \"one header CRC failure per fake sync pair (A5 5A) in each of the 2 garbage runs, one frame CRC failure for the flipped frame\", "
                  "\"flipped_byte_offset\": %zu, \"frame_values\": \"values of frame k (k = index in the unflipped sequence 65534 65535 0 2 3 4) are k*100 + i, shape (3, 2), scale 0.25\"}",
            pos, flipped_at);

    fputs("\n]}\n", json);
    finish_file(json, tmp, path);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_frame: all checks passed, %d vectors + stream written to %s\n", n_vectors, outdir);
    return 0;
}
