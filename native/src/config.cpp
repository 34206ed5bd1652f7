// config.cpp: config.json -> ModelConfig, with every unsupported or inconsistent setting reported
// as a one-line error naming the file and the key.
#include "config.h"

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <optional>
#include <string_view>

#include "error.h"
#include "files.h"
#include "json_dom.h"

namespace vl {

namespace {

[[noreturn]] void config_error(vl_status st, const std::string &path, const std::string &what) {
  throw Error(st, path + ": " + what);
}

// Reads config.json's values from simdjson's DOM; an absent key and null both mean "not given".
struct Reader {
  json::Element root;
  const std::string &path;

  std::optional<json::Element> get(json::Element obj, const char *key) const {
    json::Element v;
    if (obj.at_key(key).get(v) != simdjson::SUCCESS || v.is_null()) return std::nullopt;
    return v;
  }
  double number(json::Element obj, const char *key, const char *where = "") const {
    const std::optional<json::Element> v = get(obj, key);
    if (!v) config_error(VL_ERR_FORMAT, path, std::string("missing \"") + where + key + "\"");
    double d = 0;
    if (!v->is_number() || v->get_double().get(d) != simdjson::SUCCESS)
      config_error(VL_ERR_FORMAT, path, std::string("\"") + where + key + "\" must be a number, not " + json::kind_name(*v));
    return d;
  }
  int integer(json::Element obj, const char *key) const {
    // Read as the type simdjson parsed: an integer in 64 bits (exact, so 2^63 + 1 is printed as
    // written), or a double that must hold an integral value.
    const std::optional<json::Element> v = get(obj, key);
    int64_t i = 0;
    uint64_t u = 0;
    std::string got;
    if (v && v->get_int64().get(i) == simdjson::SUCCESS) {
      if (i >= 1 && i <= INT32_MAX) return int(i);
      got = std::to_string(i);
    } else if (v && v->get_uint64().get(u) == simdjson::SUCCESS) {
      got = std::to_string(u);  // above INT64_MAX
    } else {
      double d = number(obj, key);
      if (std::isfinite(d) && d == std::floor(d) && d >= 1 && d <= double(INT32_MAX)) return int(d);
      char text[32];
      std::snprintf(text, sizeof text, "%.17g", d);  // 4294967297.5, not 4294967297.500000
      got = text;
    }
    config_error(VL_ERR_FORMAT, path, std::string("\"") + key + "\" must be a positive integer up to " +
                                          std::to_string(INT32_MAX) + ", got " + got);
  }
  int integer_or(json::Element obj, const char *key, int fallback) const {
    return get(obj, key) ? integer(obj, key) : fallback;
  }
  double number_or(json::Element obj, const char *key, double fallback, const char *where = "") const {
    return get(obj, key) ? number(obj, key, where) : fallback;
  }
  bool boolean_or(json::Element obj, const char *key, bool fallback) const {
    const std::optional<json::Element> v = get(obj, key);
    if (!v) return fallback;
    bool b = false;
    if (v->get_bool().get(b) != simdjson::SUCCESS)
      config_error(VL_ERR_FORMAT, path, std::string("\"") + key + "\" must be true or false");
    return b;
  }
  std::string string_or(json::Element obj, const char *key, const std::string &fallback) const {
    const std::optional<json::Element> v = get(obj, key);
    if (!v) return fallback;
    std::string_view text;
    if (v->get_string().get(text) != simdjson::SUCCESS)
      config_error(VL_ERR_FORMAT, path, std::string("\"") + key + "\" must be a string");
    return std::string(text);
  }
};

RopeConfig read_rope(const Reader &r) {
  RopeConfig rope;
  // transformers 5 keeps everything in rope_parameters; transformers 4 has rope_theta at top level
  // and an optional rope_scaling object.
  const std::optional<json::Element> params = r.get(r.root, "rope_parameters");
  const std::optional<json::Element> scaling = r.get(r.root, "rope_scaling");
  const char *where = params ? "rope_parameters." : "rope_scaling.";
  if (params && !params->is_object()) config_error(VL_ERR_FORMAT, r.path, "\"rope_parameters\" must be an object");
  if (scaling && !scaling->is_object()) config_error(VL_ERR_FORMAT, r.path, "\"rope_scaling\" must be an object");
  rope.theta = r.number_or(r.root, "rope_theta", 10000.0);
  if (params) rope.theta = r.number_or(*params, "rope_theta", rope.theta, where);
  const std::optional<json::Element> sc = params ? params : scaling;
  if (sc) {
    rope.type = r.string_or(*sc, "rope_type", r.string_or(*sc, "type", "default"));
    if (rope.type == "linear") {
      rope.factor = r.number(*sc, "factor", where);
    } else if (rope.type == "llama3") {
      rope.factor = r.number(*sc, "factor", where);
      rope.low_freq_factor = r.number(*sc, "low_freq_factor", where);
      rope.high_freq_factor = r.number(*sc, "high_freq_factor", where);
      rope.original_max_position = r.number(*sc, "original_max_position_embeddings", where);
    } else if (rope.type != "default") {
      config_error(VL_ERR_UNSUPPORTED, r.path,
                   "rope type \"" + rope.type + "\" is not supported (supported: default, linear, llama3)");
    }
  }
  return rope;
}

}  // namespace

// Upper bounds on each dimension and on the derived sizes. Kernels index a matrix with 32-bit
// element counts and the KV pool addresses positions in int32, so every derived size is computed
// here in 64 bits and must stay below these before any of them is narrowed (a wrapped product such
// as 65536 heads x 65536 head_dim = 0 passed every shape check and overflowed cpu attention).
// The bounds are far above any published Llama (vocab 128256, hidden 16384, ffn 53248, 126 layers).
constexpr int64_t kMaxDim = 1 << 20;          // vocab, hidden, ffn, max positions
constexpr int64_t kMaxCount = 1 << 14;        // layers, heads, kv heads, head_dim
constexpr int64_t kMaxMatrix = INT32_MAX;     // elements of one weight matrix (vocab x hidden, ...)

void ModelConfig::validate(const std::string &where) const {
  auto need = [&](bool ok, const std::string &what) {
    if (!ok) throw Error(VL_ERR_FORMAT, where + ": " + what);
  };
  need(vocab_size > 0 && hidden_size > 0 && intermediate_size > 0 && num_layers > 0 && num_heads > 0 &&
           num_kv_heads > 0 && head_dim > 0,
       "every dimension (vocab, hidden, ffn, layers, heads, kv heads, head dim) must be positive");
  const struct {
    const char *name;
    int64_t value, limit;
  } dims[] = {{"vocab_size", vocab_size, kMaxDim},
              {"hidden_size", hidden_size, kMaxDim},
              {"intermediate_size", intermediate_size, kMaxDim},
              {"max_position_embeddings", max_position_embeddings, kMaxDim},
              {"num_hidden_layers", num_layers, kMaxCount},
              {"num_attention_heads", num_heads, kMaxCount},
              {"num_key_value_heads", num_kv_heads, kMaxCount},
              {"head_dim", head_dim, kMaxCount}};
  for (const auto &d : dims)
    need(d.value <= d.limit, std::string(d.name) + " " + std::to_string(d.value) + " is above the limit of " +
                                 std::to_string(d.limit));
  need(num_heads % num_kv_heads == 0, "num_attention_heads (" + std::to_string(num_heads) +
                                          ") must be a multiple of num_key_value_heads (" +
                                          std::to_string(num_kv_heads) + ")");
  need(head_dim % 2 == 0, "head_dim (" + std::to_string(head_dim) + ") must be even for rotary embeddings");
  // Derived sizes, each below 2^40 as a product of two bounded factors: no 64-bit overflow.
  const struct {
    const char *what;
    int64_t value;
  } derived[] = {{"num_attention_heads x head_dim", int64_t(num_heads) * head_dim},
                 {"vocab_size x hidden_size", int64_t(vocab_size) * hidden_size},
                 {"hidden_size x intermediate_size", int64_t(hidden_size) * intermediate_size},
                 {"hidden_size x num_attention_heads x head_dim", int64_t(hidden_size) * (int64_t(num_heads) * head_dim)}};
  for (const auto &d : derived)
    need(d.value <= kMaxMatrix, std::string(d.what) + " = " + std::to_string(d.value) +
                                    " elements is above the limit of " + std::to_string(kMaxMatrix) + " per matrix");
  need(std::isfinite(rms_norm_eps) && rms_norm_eps > 0, "rms_norm_eps must be a finite positive number");
  need(std::isfinite(rope.theta) && rope.theta > 0, "rope_theta must be a finite positive number");
  if (rope.type == "linear" || rope.type == "llama3")
    need(std::isfinite(rope.factor) && rope.factor > 0, "rope scaling factor must be a finite positive number");
  if (rope.type == "llama3") {
    need(std::isfinite(rope.low_freq_factor) && rope.low_freq_factor > 0 && std::isfinite(rope.high_freq_factor) &&
             rope.high_freq_factor > rope.low_freq_factor,
         "rope low_freq_factor and high_freq_factor must be finite with 0 < low_freq_factor < high_freq_factor");
    need(std::isfinite(rope.original_max_position) && rope.original_max_position >= 1,
         "rope original_max_position_embeddings must be a positive number");
  }
  // A rotary frequency past the range of the dtype it is rounded to (a tiny factor or rope_theta)
  // rotates by inf: NaN at every position, which the first pass would report as VL_ERR_NUMERIC.
  const std::vector<float> inv = rope_inv_freq();
  for (size_t i = 0; i < inv.size(); i++) {
    if (std::isfinite(inv[i])) continue;
    char got[96];
    std::snprintf(got, sizeof got, "rope_theta %g and rope scaling factor %g", rope.theta, rope.factor);
    need(false, std::string(got) + " put the rotary frequency inv_freq[" + std::to_string(i) + "] above the " +
                    dtype_name(dtype) + " range: use a larger factor or rope_theta");
  }
}

std::vector<float> ModelConfig::rope_inv_freq() const {
  // As transformers' _compute_default_rope_parameters / linear / llama3 (computed in double here).
  std::vector<float> inv(size_t(head_dim / 2));
  for (int i = 0; i < head_dim / 2; i++) {
    double f = 1.0 / std::pow(rope.theta, double(2 * i) / double(head_dim));
    if (rope.type == "linear") {
      f /= rope.factor;
    } else if (rope.type == "llama3") {
      const double pi = 3.14159265358979323846;
      double low_wavelen = rope.original_max_position / rope.low_freq_factor;
      double high_wavelen = rope.original_max_position / rope.high_freq_factor;
      double wavelen = 2 * pi / f;
      if (wavelen > low_wavelen) {
        f = f / rope.factor;
      } else if (wavelen >= high_wavelen) {
        double smooth = (rope.original_max_position / wavelen - rope.low_freq_factor) /
                        (rope.high_freq_factor - rope.low_freq_factor);
        f = (1 - smooth) * f / rope.factor + smooth * f;
      }
    }
    // transformers keeps inv_freq as a buffer that model.to(float16 | bfloat16) casts with the
    // weights, so a half-precision model rotates with frequencies rounded to that dtype. Doing the
    // same puts our fp32 logits within 1e-6 of transformers' instead of 2e-4 (checked against a
    // float64 numpy forward on the fixtures).
    float rounded = float(f);
    if (dtype == DType::F16) rounded = f16_to_f32(f32_to_f16(rounded));
    if (dtype == DType::BF16) rounded = bf16_to_f32(f32_to_bf16(rounded));
    inv[size_t(i)] = rounded;
  }
  return inv;
}


ModelConfig load_config(const std::string &path) {
  // config.json is a few KB; 16 MiB leaves room for any real one and stops /dev/zero and friends.
  if (!file_present(path)) throw Error(VL_ERR_IO, path + ": cannot open (a model directory needs a config.json)");
  const std::string text = read_regular_file(path, uint64_t(16) << 20);
  simdjson::dom::parser parser;
  const json::Element root = json::parse(parser, text.data(), text.size(), path, "not valid JSON");
  if (!root.is_object()) config_error(VL_ERR_FORMAT, path, "must hold a JSON object");
  const std::string twice = json::duplicate_key(root, "the file");
  if (!twice.empty()) config_error(VL_ERR_FORMAT, path, twice);
  Reader r{root, path};

  // Architecture: Llama family only.
  std::string arch;
  if (const std::optional<json::Element> a = r.get(root, "architectures")) {
    simdjson::dom::array names;
    std::string_view first;
    if (a->get_array().get(names) || names.size() == 0 || names.at(0).get_string().get(first))
      config_error(VL_ERR_FORMAT, path, "\"architectures\" must be a list of names");
    arch = std::string(first);
  }
  std::string model_type = r.string_or(root, "model_type", "");
  if (arch.empty() && model_type.empty())
    config_error(VL_ERR_FORMAT, path, "names no architecture (\"architectures\" or \"model_type\")");
  if ((!arch.empty() && arch != "LlamaForCausalLM") || (arch.empty() && model_type != "llama"))
    config_error(VL_ERR_UNSUPPORTED, path,
                 "architecture \"" + (arch.empty() ? model_type : arch) +
                     "\" is not supported (vramlab runs LlamaForCausalLM)");
  std::string act = r.string_or(root, "hidden_act", "silu");
  if (act != "silu") config_error(VL_ERR_UNSUPPORTED, path, "hidden_act \"" + act + "\" is not supported (Llama uses silu)");
  if (r.boolean_or(root, "attention_bias", false))
    config_error(VL_ERR_UNSUPPORTED, path, "attention_bias: true is not supported");
  if (r.boolean_or(root, "mlp_bias", false)) config_error(VL_ERR_UNSUPPORTED, path, "mlp_bias: true is not supported");

  ModelConfig c;
  c.vocab_size = r.integer(root, "vocab_size");
  c.hidden_size = r.integer(root, "hidden_size");
  c.intermediate_size = r.integer(root, "intermediate_size");
  c.num_layers = r.integer(root, "num_hidden_layers");
  c.num_heads = r.integer(root, "num_attention_heads");
  c.num_kv_heads = r.integer_or(root, "num_key_value_heads", c.num_heads);
  if (c.hidden_size % c.num_heads != 0 && !r.get(root, "head_dim"))
    config_error(VL_ERR_FORMAT, path, "hidden_size is not a multiple of num_attention_heads and no head_dim is given");
  c.head_dim = r.integer_or(root, "head_dim", c.hidden_size / c.num_heads);
  c.max_position_embeddings = r.integer_or(root, "max_position_embeddings", 2048);
  c.tie_word_embeddings = r.boolean_or(root, "tie_word_embeddings", false);
  c.rms_norm_eps = float(r.number_or(root, "rms_norm_eps", 1e-6));
  c.rope = read_rope(r);

  // transformers 5 writes "dtype", transformers 4 "torch_dtype".
  std::string dt = r.string_or(root, "dtype", r.string_or(root, "torch_dtype", ""));
  if (!dt.empty()) {
    c.dtype_declared = true;
    if (dt == "float16") c.dtype = DType::F16;
    else if (dt == "bfloat16") c.dtype = DType::BF16;
    else if (dt == "float32") c.dtype = DType::F32;
    else config_error(VL_ERR_UNSUPPORTED, path, "dtype \"" + dt + "\" is not supported (float16, bfloat16, float32)");
  }
  c.validate(path);
  return c;
}

}  // namespace vl
