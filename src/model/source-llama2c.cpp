#include "model/source-llama2c.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "shardlm/model/llama2c.h"

namespace shardlm {

namespace {

class Llama2cSource : public ModelSource {
 public:
  explicit Llama2cSource(std::unique_ptr<Llama2cFile> f) : f_(std::move(f)) {}
  const char* format() const override { return "llama2c"; }
  const RawTensor* tensor(const std::string& name) const override { return f_->tensor(name); }
  uint64_t total_bytes() const override {
    uint64_t n = 0;
    for (const auto& t : f_->tensors()) n += t.nbytes;
    return n;
  }
  void release(const RawTensor& t) const override { f_->release(t); }
  Status init(const std::string& path, const std::string& tokenizer_path);

 private:
  std::unique_ptr<Llama2cFile> f_;
};

bool exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// tokenizer.bin beside the checkpoint, else the only tok*.bin there.
std::string find_tokenizer(const std::string& model) {
  std::string dir = model.find('/') == std::string::npos ? "." : model.substr(0, model.find_last_of('/'));
  if (exists(dir + "/tokenizer.bin")) return dir + "/tokenizer.bin";
  std::vector<std::string> found;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("tok", 0) == 0 && n.size() > 4 && n.compare(n.size() - 4, 4, ".bin") == 0) found.push_back(dir + "/" + n);
    }
    closedir(d);
  }
  return found.size() == 1 ? found[0] : "";
}

Status Llama2cSource::init(const std::string& path, const std::string& tokenizer_path) {
  path_ = path;
  const Llama2cHeader& c = f_->header();
  HParams& h = hp_;
  h.arch = "llama";
  h.name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  h.n_vocab = c.vocab_size;
  h.n_embd = c.dim;
  h.n_layer = c.n_layers;
  h.n_head = c.n_heads;
  h.n_head_kv = c.n_kv_heads;
  h.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  h.rope_dim = h.head_dim;
  h.n_ff = c.hidden_dim;
  h.n_ctx_train = c.seq_len;
  h.norm_eps = 1e-5f;  // run.c
  h.rope_theta = 10000.0f;
  h.rope_layout = RopeLayout::Adjacent;  // trained with adjacent pairs, Q/K stored as trained
  h.tied_embeddings = c.shared_classifier;
  tokenizer_path_ = tokenizer_path.empty() ? find_tokenizer(path) : tokenizer_path;
  if (tokenizer_path_.empty())
    tokenizer_path_ = path;  // load_tokenizer() will then say clearly that none was found
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<ModelSource>> open_llama2c_source(const std::string& path, const std::string& tokenizer_path) {
  auto f = Llama2cFile::open(path);
  if (!f) return f.status();
  auto s = std::make_unique<Llama2cSource>(std::move(f.value()));
  SHARDLM_TRY(s->init(path, tokenizer_path));
  return std::unique_ptr<ModelSource>(std::move(s));
}

}  // namespace shardlm
