/*
 * edgeemg band protocol v1: C99 reference frame encoder for band firmware.
 *
 * See PROTOCOL.md next to this file. Link edgeemg_frame.c into the firmware;
 * it allocates nothing and uses no libc beyond memcpy (<string.h>), <stddef.h>
 * and <stdint.h>. All multi-byte fields are written little-endian byte by byte,
 * so the output is identical on big-endian MCUs.
 *
 * Every encode function writes a complete frame into a caller buffer and
 * returns its length in bytes, or 0 if the arguments are invalid or the buffer
 * is too small (nothing useful is written then). The caller owns the sequence
 * counter: increment it by one (mod 2^16) for every frame of any type sent.
 */
#ifndef EDGEEMG_FRAME_H
#define EDGEEMG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEF_SYNC0 0xA5u
#define EEF_SYNC1 0x5Au
#define EEF_VERSION 1u
#define EEF_HEADER_SIZE 28u
#define EEF_CRC_SIZE 4u
#define EEF_OVERHEAD (EEF_HEADER_SIZE + EEF_CRC_SIZE)
#define EEF_MAX_PAYLOAD 65535u
#define EEF_MAX_NAME 255u

typedef enum { EEF_TYPE_DATA = 1, EEF_TYPE_DEVICE_INFO = 2, EEF_TYPE_ERROR = 3 } eef_frame_type;

/* Sample formats. Input sample buffers are row-major (sample, channel):
 *   EEF_FMT_INT16:   const int16_t[n_samples * n_channels]
 *   EEF_FMT_INT24:   const int32_t[...], each value in [-2^23, 2^23 - 1]
 *   EEF_FMT_FLOAT32: const float[...] (IEEE-754 binary32)
 * Microvolts on the host = count * scale_uv. */
typedef enum { EEF_FMT_INT16 = 1, EEF_FMT_INT24 = 2, EEF_FMT_FLOAT32 = 3 } eef_sample_format;

typedef struct {
    uint32_t fs_mhz;            /* sample rate in millihertz (2 kHz = 2000000) */
    uint16_t n_channels;
    uint16_t samples_per_frame; /* nominal */
    uint8_t fmt;                /* eef_sample_format, nominal */
    float scale_uv;             /* nominal microvolts per count */
    const char *layout;         /* NUL-terminated, <= 255 bytes, e.g. "hdemg-13x5" */
    const char *firmware;       /* NUL-terminated, <= 255 bytes, e.g. "1.2.0" */
} eef_device_info;

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF (pass 0xFFFF to start), no reflection.
 * Feed chunks by passing the previous return value. check("123456789") = 0x29B1. */
uint16_t eef_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t len);

/* CRC-32/ISO-HDLC (zlib): pass 0 to start, previous value to continue.
 * check("123456789") = 0xCBF43926. */
uint32_t eef_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* Bytes one data frame of this shape needs (0 if the shape is invalid). */
size_t eef_data_frame_size(uint16_t n_channels, uint16_t n_samples, uint8_t fmt);

size_t eef_encode_data(uint8_t *out, size_t out_cap, uint16_t seq, uint64_t timestamp_us,
                       uint16_t n_channels, uint16_t n_samples, uint8_t fmt, float scale_uv,
                       const void *samples);

size_t eef_encode_device_info(uint8_t *out, size_t out_cap, uint16_t seq, uint64_t timestamp_us,
                              const eef_device_info *info);

size_t eef_encode_error(uint8_t *out, size_t out_cap, uint16_t seq, uint64_t timestamp_us,
                        uint16_t code, const char *message);

#ifdef __cplusplus
}
#endif
#endif /* EDGEEMG_FRAME_H */
