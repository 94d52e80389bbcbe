// Safetensors checkpoints: one file or a sharded model folder, memory-mapped
// and fully validated before any tensor is handed out.
//
// File layout (https://github.com/huggingface/safetensors, "Format"):
//   8 bytes   N, unsigned 64-bit little-endian: length of the header
//   N bytes   UTF-8 JSON object: tensor name -> {"dtype", "shape", "data_offsets"},
//             plus an optional "__metadata__" object of string -> string
//   rest      the data section; data_offsets [begin, end) are relative to its start
//
// Every file is untrusted. Before a TensorView exists we have checked: the
// header length against the file size and SafetensorsLimits::max_header_bytes;
// that the header is JSON (no duplicate keys, nesting bounded) and an object;
// that each entry has exactly dtype, shape and data_offsets with the right
// types; that dtype is one we load; that product(shape) * dtype size, computed
// without overflow, equals end - begin; that the range lies inside the data
// section; and that no two tensors' bytes overlap. Gaps between tensors are
// allowed (the HF writer never makes them; they are harmless to a reader).
//
// Sharded folders (model.safetensors.index.json) are checked the same way:
// the weight map must name plain files inside the folder, every listed tensor
// must be in the shard it names, and no tensor may appear in two shards.
// Tensors present in a shard but not listed in the weight map are loaded too,
// as Hugging Face transformers does.
//
// A TensorView points into the mapping. Readers call
// Checkpoint::check_unchanged(t) just before copying t's bytes, so a file
// truncated after it was opened is an error rather than a SIGBUS (see
// mapped_file.hpp for what that check cannot cover); layers copy every tensor
// at load and keep no view, so the files are never read after loading.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "strata/core/dtype.hpp"
#include "strata/core/error.hpp"
#include "strata/io/json_file.hpp"
#include "strata/io/mapped_file.hpp"

namespace strata::io {

// Limits applied to untrusted checkpoints: far above any published model,
// low enough that a hostile file cannot make us allocate or loop without bound.
struct SafetensorsLimits {
  // Header JSON bytes; the HF reference implementation's MAX_HEADER_SIZE
  // (100,000,000 bytes, a little under 100 MiB).
  static constexpr std::uint64_t max_header_bytes = 100'000'000;
  // model.safetensors.index.json bytes.
  static constexpr std::uint64_t max_index_bytes = 100'000'000;
  // Tensors in one file, and in one checkpoint (all shards together).
  static constexpr std::size_t max_tensors = std::size_t{1} << 20;
  // Shard files in one checkpoint.
  static constexpr std::size_t max_shards = std::size_t{1} << 14;
  // Dimensions of one tensor.
  static constexpr std::size_t max_rank = 8;
  // Nesting of JSON arrays/objects in a header or index (a valid one needs 3).
  static constexpr int max_json_depth = 64;
};

inline constexpr std::string_view kSafetensorsFileName = "model.safetensors";
inline constexpr std::string_view kSafetensorsIndexName = "model.safetensors.index.json";

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;  // points into the mapping; not aligned in general
  std::size_t nbytes = 0;
  std::filesystem::path file;  // which file it is in (for messages)

  // Product of the shape (1 for a scalar, 0 if any dimension is 0).
  std::int64_t numel() const;
};

namespace detail {

// A string as a JSON string literal: quoted, control characters escaped,
// invalid UTF-8 replaced, cut after 256 bytes. Keeps names from files
// printable on one short line.
inline std::string quote(std::string_view s) {
  constexpr std::size_t max_bytes = 256;  // names from a file can be megabytes long
  std::string q = nlohmann::json(std::string(s.substr(0, max_bytes)))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > max_bytes) q.insert(q.size() - 1, "...");  // inside the closing quote
  return q;
}

inline std::string shape_str(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

inline std::string range_str(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// Parses untrusted JSON text. nlohmann keeps the last of duplicate keys
// silently, so duplicates are detected here (in every object) and rejected;
// nesting deeper than max_json_depth is rejected too. `where` starts every
// message (a file, plus what part of it).
inline nlohmann::json parse_untrusted_json(std::string_view text, const std::string& where) {
  using json = nlohmann::json;
  std::vector<std::unordered_set<std::string>> keys;  // one set per open object
  int depth = 0;
  auto callback = [&](int, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        [[fallthrough]];
      case json::parse_event_t::array_start:
        if (++depth > SafetensorsLimits::max_json_depth)
          fail(where, ": JSON nests deeper than ", SafetensorsLimits::max_json_depth, " levels");
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        [[fallthrough]];
      case json::parse_event_t::array_end:
        --depth;
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
          fail(where, ": duplicate key ", quote(parsed.get<std::string>()));
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    fail(where, ": not valid JSON: ", json_error(e));  // the error cut short
  }
}

// A JSON value for a message: its text, cut short if long.
inline std::string brief(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() > 64) s = s.substr(0, 60) + " ...";
  return s;
}

inline std::uint64_t load_le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

inline std::uint16_t load_le16(const std::byte* p) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                    (std::to_integer<unsigned>(p[1]) << 8));
}

// A non-negative JSON integer that fits in int64 (nlohmann stores
// non-negative integer literals as unsigned, negative ones as signed, and
// anything with a fraction, exponent or beyond 64 bits as a float).
inline bool is_index(const nlohmann::json& v) {
  return v.is_number_unsigned() &&
         v.get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<std::int64_t>::max());
}

}  // namespace detail

inline std::int64_t TensorView::numel() const {
  for (const std::int64_t d : shape)
    if (d == 0) return 0;
  std::int64_t n = 1;
  for (const std::int64_t d : shape) {
    if (d < 0)
      fail(file.string(), ": tensor ", detail::quote(name), ": negative dimension in shape ",
           detail::shape_str(shape));
    if (__builtin_mul_overflow(n, d, &n))
      fail(file.string(), ": tensor ", detail::quote(name), ": element count of shape ",
           detail::shape_str(shape), " overflows 64 bits");
  }
  return n;
}

class SafetensorsFile {
 public:
  // Maps and validates one .safetensors file. Throws strata::Error.
  static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& file) {
    return std::shared_ptr<const SafetensorsFile>(new SafetensorsFile(file));
  }

  // All tensors, sorted by name.
  const std::vector<TensorView>& tensors() const { return tensors_; }

  // nullptr if the file has no tensor of that name.
  const TensorView* find(std::string_view name) const {
    auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                               [](const TensorView& t, std::string_view n) { return t.name < n; });
    return (it != tensors_.end() && it->name == name) ? &*it : nullptr;
  }

  // The header's "__metadata__" (empty if absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return map_.path(); }
  // The whole mapping (header included), e.g. to prefetch it.
  const MappedFile& mapping() const { return map_; }
  // Throws strata::Error if the file's size changed since it was opened.
  void check_unchanged() const { map_.check_unchanged(); }

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

 private:
  explicit SafetensorsFile(const std::filesystem::path& file) : map_(file) { parse(); }

  void parse();
  void parse_metadata(const nlohmann::json& meta, const std::string& where);
  TensorView parse_entry(const std::string& name, const nlohmann::json& entry,
                         const std::string& where, std::uint64_t data_size,
                         std::uint64_t& begin_out) const;

  MappedFile map_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

inline void SafetensorsFile::parse() {
  using detail::quote;
  const std::string where = map_.path().string();
  const std::uint64_t file_size = map_.size();
  check(file_size >= 8, where, ": file is ", file_size,
        " bytes, too short for a safetensors file (it must start with an 8-byte header length)");
  // Header bytes are read with pread, not through the mapping (mapped_file.hpp).
  const std::string len8 = map_.read(0, 8);
  const std::uint64_t n = detail::load_le64(reinterpret_cast<const std::byte*>(len8.data()));
  check(n <= SafetensorsLimits::max_header_bytes, where, ": header length ", n,
        " exceeds the limit of ", SafetensorsLimits::max_header_bytes, " bytes");
  check(n <= file_size - 8, where, ": header length ", n, " is larger than the file allows (",
        file_size, " bytes in all, so at most ", file_size - 8, ")");

  const std::string text = map_.read(8, static_cast<std::size_t>(n));
  const nlohmann::json header = detail::parse_untrusted_json(text, where + ": header");
  check(header.is_object(), where, ": header is not a JSON object but a JSON ", header.type_name());
  check(header.size() <= SafetensorsLimits::max_tensors + 1, where, ": header lists ",
        header.size(), " entries, more than the limit of ", SafetensorsLimits::max_tensors,
        " tensors");

  const std::uint64_t data_begin = 8 + n;  // <= file_size, checked above
  const std::uint64_t data_size = file_size - data_begin;

  tensors_.reserve(header.size());
  std::vector<std::pair<std::uint64_t, std::size_t>> starts;  // (begin, tensor index)
  starts.reserve(header.size());
  for (const auto& [name, entry] : header.items()) {  // keys come sorted by name
    if (name == "__metadata__") {
      parse_metadata(entry, where);
      continue;
    }
    std::uint64_t begin = 0;
    TensorView t = parse_entry(name, entry, where, data_size, begin);
    t.data = map_.data() + data_begin + begin;  // begin + nbytes <= data_size
    if (t.nbytes > 0) starts.emplace_back(begin, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // Non-empty byte ranges must not overlap: sort by start, compare neighbours.
  std::sort(starts.begin(), starts.end());
  for (std::size_t i = 1; i < starts.size(); ++i) {
    const auto [pb, pi] = starts[i - 1];
    const auto [cb, ci] = starts[i];
    const std::uint64_t pe = pb + tensors_[pi].nbytes;
    if (pe > cb)
      fail(where, ": tensors ", quote(tensors_[pi].name), " (data_offsets ",
           detail::range_str(pb, pe), ") and ", quote(tensors_[ci].name), " (data_offsets ",
           detail::range_str(cb, cb + tensors_[ci].nbytes), ") overlap");
  }
}

inline void SafetensorsFile::parse_metadata(const nlohmann::json& meta, const std::string& where) {
  check(meta.is_object(), where, ": \"__metadata__\" is not a JSON object but a JSON ",
        meta.type_name());
  for (const auto& [key, value] : meta.items()) {
    if (!value.is_string())
      fail(where, ": \"__metadata__\" entry ", detail::quote(key), " is not a string but a JSON ",
           value.type_name());
    metadata_.emplace(key, value.get<std::string>());
  }
}

inline TensorView SafetensorsFile::parse_entry(const std::string& name, const nlohmann::json& entry,
                                               const std::string& where, std::uint64_t data_size,
                                               std::uint64_t& begin_out) const {
  const std::string at = where + ": tensor " + detail::quote(name);
  check(entry.is_object(), at, ": entry is not a JSON object but a JSON ", entry.type_name());
  for (const auto& [key, value] : entry.items()) {
    (void)value;
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(at, ": unexpected field ", detail::quote(key),
           " (a tensor has exactly dtype, shape and data_offsets)");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"})
    check(entry.contains(field), at, ": missing field \"", field, "\"");

  TensorView t;
  t.name = name;
  t.file = map_.path();

  // dtype
  const auto& dt = entry.at("dtype");
  check(dt.is_string(), at, ": dtype is not a string but a JSON ", dt.type_name());
  const auto dtype = dtype_from_name(dt.get<std::string>());
  if (!dtype)
    fail(at, ": unknown dtype ", detail::quote(dt.get<std::string>()),
         " (supported: F32, F16, BF16, I32, U8, I64, BOOL)");
  t.dtype = *dtype;

  // shape
  const auto& shape = entry.at("shape");
  check(shape.is_array(), at, ": shape is not an array but a JSON ", shape.type_name());
  check(shape.size() <= SafetensorsLimits::max_rank, at, ": shape has rank ", shape.size(),
        ", more than the limit of ", SafetensorsLimits::max_rank);
  t.shape.reserve(shape.size());
  bool any_zero = false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (!detail::is_index(shape[i]))
      fail(at, ": shape entry ", i, " is ", detail::brief(shape[i]),
           ", not a non-negative integer (shape ", detail::brief(shape), ")");
    t.shape.push_back(shape[i].get<std::int64_t>());
    any_zero = any_zero || t.shape.back() == 0;
  }
  // numel * dtype size, refusing anything past int64 even when a later 0
  // would make the product small: such a shape is nonsense either way.
  std::uint64_t bytes = dtype_size(t.dtype);
  for (const std::int64_t d : t.shape) {
    if (d == 0) continue;
    const bool overflow = __builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes);
    if (overflow || bytes > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      fail(at, ": shape ", detail::shape_str(t.shape), " of ", dtype_name(t.dtype),
           " overflows: its size in bytes does not fit in 63 bits");
  }
  if (any_zero) bytes = 0;

  // data_offsets
  const auto& offs = entry.at("data_offsets");
  if (!(offs.is_array() && offs.size() == 2 && detail::is_index(offs[0]) &&
        detail::is_index(offs[1])))
    fail(at, ": data_offsets is ", detail::brief(offs), ", not two non-negative integers");
  const std::uint64_t begin = offs[0].get<std::uint64_t>();
  const std::uint64_t end = offs[1].get<std::uint64_t>();
  check(begin <= end, at, ": data_offsets [", begin, ", ", end, "] end before they begin");
  if (end - begin != bytes)
    fail(at, ": shape ", detail::shape_str(t.shape), " of ", dtype_name(t.dtype), " needs ", bytes,
         " bytes but data_offsets ", detail::range_str(begin, end), " hold ", end - begin);
  if (end > data_size)
    fail(at, ": data_offsets ", detail::range_str(begin, end),
         " lie outside the data section, which has ", data_size, " bytes");

  t.nbytes = static_cast<std::size_t>(bytes);
  begin_out = begin;
  return t;
}

class Checkpoint {
 public:
  // An empty checkpoint: finds nothing.
  Checkpoint() = default;

  // A model folder: model.safetensors if present, else the shards named by
  // model.safetensors.index.json.
  static Checkpoint open(const std::filesystem::path& model_dir);

  // An explicit list of safetensors files, taken together.
  static Checkpoint open_files(std::vector<std::filesystem::path> files);

  // nullptr if absent.
  const TensorView* find(std::string_view name) const {
    if (!state_) return nullptr;
    auto it = state_->by_name.find(name);
    return it == state_->by_name.end() ? nullptr : it->second;
  }

  // The tensor, checked to have exactly this shape.
  const TensorView& require(std::string_view name, std::span<const std::int64_t> shape) const {
    const TensorView* t = find(name);
    if (t == nullptr)
      fail(source(), ": tensor ", detail::quote(name), " is missing from the checkpoint");
    if (!std::ranges::equal(t->shape, shape))
      fail(t->file.string(), ": tensor ", detail::quote(name), " has shape ",
           detail::shape_str(t->shape), ", expected ", detail::shape_str(shape));
    return *t;
  }
  const TensorView& require(std::string_view name,
                            std::initializer_list<std::int64_t> shape) const {
    return require(name, std::span<const std::int64_t>(shape.begin(), shape.size()));
  }

  // All tensor names, sorted.
  std::vector<std::string> tensor_names() const {
    std::vector<std::string> names;
    if (!state_) return names;
    names.reserve(state_->by_name.size());
    for (const auto& [name, t] : state_->by_name) names.push_back(name);
    return names;
  }

  std::size_t size() const { return state_ ? state_->by_name.size() : 0; }

  // Sum of the tensors' data bytes (headers not counted).
  std::size_t total_bytes() const { return state_ ? state_->total_bytes : 0; }

  // The files it holds open.
  const std::vector<std::shared_ptr<const SafetensorsFile>>& files() const {
    static const std::vector<std::shared_ptr<const SafetensorsFile>> none;
    return state_ ? state_->files : none;
  }

  // Throws strata::Error ("FILE: changed size while loading (was N bytes,
  // now M)") if the file holding t is no longer the size it was when opened:
  // call it right before reading t's bytes.
  void check_unchanged(const TensorView& t) const {
    if (const SafetensorsFile* f = file_of(t)) f->check_unchanged();
  }

  // Copies bytes [offset, offset + n) of tensor t into dst, read from its
  // file with pread, not through the mapping: none of the file's pages enter
  // this process's resident set, and a file that shrank since it was opened
  // is a strata::Error, never a SIGBUS.
  void read(const TensorView& t, std::size_t offset, std::size_t n, void* dst) const {
    check(offset <= t.nbytes && n <= t.nbytes - offset, t.file.string(), ": tensor ", detail::quote(t.name),
          ": read of ", n, " bytes at offset ", offset, " is outside its ", t.nbytes, " bytes");
    if (n == 0) return;
    const SafetensorsFile* f = file_of(t);
    check(f != nullptr, source(), ": tensor ", detail::quote(t.name), " is not in this checkpoint's files");
    f->mapping().read_into(std::uint64_t(t.data - f->mapping().data()) + offset, n, dst);
  }

  // Tells the OS this process is done reading tensor t's bytes (they were
  // copied into another layout): its pages leave the resident set. A hint.
  void release(const TensorView& t) const {
    if (!state_) return;
    for (const auto& f : state_->files) f->mapping().release(t.data, t.nbytes);
  }

  // What it was opened from, for messages: the single file, the index, or a file list.
  const std::string& source() const {
    static const std::string empty = "(empty checkpoint)";
    return state_ ? state_->source : empty;
  }

 private:
  struct State {
    std::string source;
    std::vector<std::shared_ptr<const SafetensorsFile>> files;
    std::map<std::string, const TensorView*, std::less<>> by_name;
    std::size_t total_bytes = 0;
  };

  static Checkpoint from_files(std::vector<std::shared_ptr<const SafetensorsFile>> files,
                               std::string source);
  static Checkpoint open_index(const std::filesystem::path& dir,
                               const std::filesystem::path& index);

  // The file whose mapping holds t's bytes; nullptr if none does.
  const SafetensorsFile* file_of(const TensorView& t) const {
    if (!state_) return nullptr;
    for (const auto& f : state_->files) {
      const MappedFile& m = f->mapping();
      if (t.data >= m.data() && t.data < m.data() + m.size()) return f.get();
    }
    for (const auto& f : state_->files)  // an empty tensor at the very end
      if (f->path() == t.file) return f.get();
    return nullptr;
  }

  std::shared_ptr<const State> state_;
};

inline Checkpoint Checkpoint::from_files(std::vector<std::shared_ptr<const SafetensorsFile>> files,
                                         std::string source) {
  auto state = std::make_shared<State>();
  state->source = std::move(source);
  for (const auto& f : files) {
    for (const TensorView& t : f->tensors()) {
      auto [it, inserted] = state->by_name.emplace(t.name, &t);
      if (!inserted)
        fail(state->source, ": tensor ", detail::quote(t.name),
             " is in two files: ", it->second->file.string(), " and ", t.file.string());
      check(state->by_name.size() <= SafetensorsLimits::max_tensors, state->source, ": more than ",
            SafetensorsLimits::max_tensors, " tensors in all");
      state->total_bytes += t.nbytes;  // each lies in a distinct mapping: no overflow
    }
  }
  state->files = std::move(files);
  Checkpoint c;
  c.state_ = std::move(state);
  return c;
}

inline Checkpoint Checkpoint::open_files(std::vector<std::filesystem::path> paths) {
  check(!paths.empty(), "safetensors checkpoint: no files given");
  check(paths.size() <= SafetensorsLimits::max_shards, "safetensors checkpoint: ", paths.size(),
        " files given, more than the limit of ", SafetensorsLimits::max_shards);
  std::string source = paths.front().string();
  if (paths.size() > 1) source += " (+" + std::to_string(paths.size() - 1) + " more files)";
  std::vector<std::shared_ptr<const SafetensorsFile>> files;
  files.reserve(paths.size());
  for (const auto& p : paths) files.push_back(SafetensorsFile::open(p));
  return from_files(std::move(files), std::move(source));
}

inline Checkpoint Checkpoint::open(const std::filesystem::path& model_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  check(fs::is_directory(model_dir, ec), model_dir.string(),
        ": not a directory (expected a model folder holding ", kSafetensorsFileName, " or ",
        kSafetensorsIndexName, ")");
  const fs::path single = model_dir / kSafetensorsFileName;
  const fs::path index = model_dir / kSafetensorsIndexName;
  if (fs::exists(single, ec)) return from_files({SafetensorsFile::open(single)}, single.string());
  if (fs::exists(index, ec)) return open_index(model_dir, index);
  fail(model_dir.string(), ": neither ", kSafetensorsFileName, " nor ", kSafetensorsIndexName,
       " is in this folder");
}

inline Checkpoint Checkpoint::open_index(const std::filesystem::path& dir,
                                         const std::filesystem::path& index) {
  using detail::quote;
  const std::string where = index.string();
  const MappedFile map(index);
  check(map.size() <= SafetensorsLimits::max_index_bytes, where, ": file is ", map.size(),
        " bytes, more than the limit of ", SafetensorsLimits::max_index_bytes);
  const nlohmann::json doc = detail::parse_untrusted_json(map.read(0, map.size()), where);
  check(doc.is_object(), where, ": not a JSON object but a JSON ", doc.type_name());
  check(doc.contains("weight_map"), where, ": missing \"weight_map\"");
  const auto& weight_map = doc.at("weight_map");
  check(weight_map.is_object(), where, ": \"weight_map\" is not a JSON object but a JSON ",
        weight_map.type_name());
  check(!weight_map.empty(), where, ": \"weight_map\" is empty");
  check(weight_map.size() <= SafetensorsLimits::max_tensors, where, ": \"weight_map\" lists ",
        weight_map.size(), " tensors, more than the limit of ", SafetensorsLimits::max_tensors);

  // Shard names: plain file names inside the folder, nothing that could
  // point elsewhere.
  std::map<std::string, std::size_t> shard_ids;  // name -> index into files
  for (const auto& [tensor, file] : weight_map.items()) {
    if (!file.is_string())
      fail(where, ": \"weight_map\" entry for tensor ", quote(tensor),
           " is not a string but a JSON ", file.type_name());
    const std::string& name = file.get_ref<const std::string&>();
    const bool plain = !name.empty() && name != "." && name != ".." &&
                       name.find_first_of(std::string_view("/\\\0", 3)) == std::string::npos;
    if (!plain)
      fail(where, ": tensor ", quote(tensor), " maps to file ", quote(name),
           ", which is not a plain file name inside the model folder");
    shard_ids.emplace(name, 0);
  }
  check(shard_ids.size() <= SafetensorsLimits::max_shards, where, ": ", shard_ids.size(),
        " shard files, more than the limit of ", SafetensorsLimits::max_shards);

  std::vector<std::shared_ptr<const SafetensorsFile>> files;
  files.reserve(shard_ids.size());
  for (auto& [name, id] : shard_ids) {
    const std::filesystem::path shard = dir / name;
    std::error_code ec;
    if (!std::filesystem::exists(shard, ec))
      fail(where, ": shard file ", quote(name), " is not in ", dir.string());
    id = files.size();
    files.push_back(SafetensorsFile::open(shard));
  }

  for (const auto& [tensor, file] : weight_map.items()) {
    const auto& shard = files[shard_ids.at(file.get<std::string>())];
    if (shard->find(tensor) == nullptr)
      fail(where, ": tensor ", quote(tensor), " is listed in shard ",
           quote(file.get<std::string>()), " but absent from ", shard->path().string());
  }
  return from_files(std::move(files), where);
}

// Converts n stored elements of a float dtype (little-endian F32, F16 or
// BF16, at any alignment) at p to float32. Exact. Other dtypes: nothing.
inline void stored_to_f32(const std::byte* p, DType dtype, std::size_t n, float* dst) {
  switch (dtype) {
    case DType::I32:
    case DType::U8:
    case DType::I64:
    case DType::BOOL:
      break;
    case DType::F32:
      if constexpr (std::endian::native == std::endian::little) {
        if (n > 0) std::memcpy(dst, p, 4 * n);
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          std::uint32_t bits = 0;
          for (int b = 3; b >= 0; --b)
            bits = (bits << 8) | std::to_integer<std::uint32_t>(p[4 * i + std::size_t(b)]);
          dst[i] = bits_to_f32(bits);
        }
      }
      break;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(detail::load_le16(p + 2 * i));
      break;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(detail::load_le16(p + 2 * i));
      break;
  }
}

// Throws strata::Error unless t holds floats (F32, F16, BF16).
inline void check_float(const TensorView& t) {
  if (!dtype_is_float(t.dtype))
    fail(t.file.string(), ": tensor ", detail::quote(t.name), " is ", dtype_name(t.dtype),
         ", expected a float type (F32, F16, BF16)");
}

// Converts the stored elements (little-endian F32, F16 or BF16, at any
// alignment) to float32; dst must have room for t.numel() floats. Exact.
inline void copy_to_f32(const TensorView& t, float* dst) {
  const std::int64_t n = t.numel();
  std::uint64_t need = 0;
  const bool overflow =
      __builtin_mul_overflow(static_cast<std::uint64_t>(n), dtype_size(t.dtype), &need);
  if (overflow || need != t.nbytes)
    fail(t.file.string(), ": tensor ", detail::quote(t.name), ": view holds ", t.nbytes,
         " bytes but shape ", detail::shape_str(t.shape), " of ", dtype_name(t.dtype), " needs ",
         overflow ? std::string("more than 2^64") : std::to_string(need));
  check_float(t);
  stored_to_f32(t.data, t.dtype, std::size_t(n), dst);
}

inline std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  copy_to_f32(t, out.data());
  return out;
}

}  // namespace strata::io
