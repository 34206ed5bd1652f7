// dtype.h: element types of weights, activations and KV, with scalar conversions used by the CPU
// backend and by synthetic weight generation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vramlab.h"

namespace vl {

enum class DType : int32_t { F32 = VL_F32, F16 = VL_F16, BF16 = VL_BF16 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
inline const char *dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}

// A float's bits and back (std::bit_cast is C++20).
inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_of_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16_to_f32(uint16_t h) { return f32_of_bits(uint32_t(h) << 16); }

// Round to nearest even, NaN kept quiet.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) { mant <<= 1; exp--; }
      mant &= 0x3ffu;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return f32_of_bits(u);
}

// Round to nearest even, with overflow to infinity and gradual underflow.
inline uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return uint16_t(sign | 0x7e00u);        // NaN
  if (absu >= 0x477ff000u) return uint16_t(sign | 0x7c00u);       // overflow -> inf
  if (absu < 0x38800000u) {                                        // subnormal or zero in f16
    if (absu < 0x33000000u) return uint16_t(sign);
    uint32_t e = absu >> 23;
    uint32_t m = (absu & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // f16 subnormal unit is 2^-24: value = m >> shift, shift in [14, 24]
    uint32_t res = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (res & 1u))) res++;
    return uint16_t(sign | res);
  }
  uint32_t res = ((absu - 0x38000000u) >> 13);
  uint32_t rem = absu & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (res & 1u))) res++;
  return uint16_t(sign | res);
}

// Reads element i of a buffer of type t as float.
inline float load_f32(const void *p, DType t, size_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float *>(p)[i];
    case DType::F16: return f16_to_f32(static_cast<const uint16_t *>(p)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t *>(p)[i]);
  }
  return 0.f;
}

inline void store_f32(void *p, DType t, size_t i, float v) {
  switch (t) {
    case DType::F32: static_cast<float *>(p)[i] = v; break;
    case DType::F16: static_cast<uint16_t *>(p)[i] = f32_to_f16(v); break;
    case DType::BF16: static_cast<uint16_t *>(p)[i] = f32_to_bf16(v); break;
  }
}

}  // namespace vl
