// Which language is a word? Character-level language identification over five languages
// (English, French, German, Spanish, Italian), with words from Debian's word lists
// (packages wamerican, wfrench, wngerman, wspanish, witalian, read at run time from
// /usr/share/dict; scripts/setup.sh installs them).
//
// Data: each list is read as UTF-8 and decoded to code points. A word is kept when it has only
// letters (ASCII or Latin-1: words with apostrophes, hyphens, digits or dots are dropped), is
// 3 to 14 letters long and is not a proper name: a capitalized word is dropped, except in German,
// where every noun is capitalized (German words are lowercased instead); a word with a capital
// after its first letter (an acronym, "McDonald") is dropped everywhere. A word found in two or
// more lists ("piano", "animal") has no single label and is dropped from all of them. Then a
// balanced sample: 10000 words per language (seeded), 1000 of them held out for testing.
// The characters of the training words form the vocabulary; index 0 is <pad>, 1 is <unk> (a
// character never seen in training, e.g. a rare accent in a test word).
//
// Model: each word is a padded row of character indices [N, 14] with its length n_b,
//   e_bt = E[x_bt]                  (Embedding 16-d, the <pad> row fixed at zero)
//   h_bt, c_bt = LSTM(e_bt, h_b,t-1, c_b,t-1)   for t < n_b  (64 hidden units)
//   z_b = W dropout(h_b,n_b - 1) + b    (Linear 64 -> 5 on the state after the word's last letter)
//   L = -1/N sum_b log softmax(z_b)_{y_b}
// The lengths go to forward_with_state, which stops each word's recurrence at its own end, so
// h_n is the state after its last real letter whatever the padding. AdamW for 4 epochs of
// shuffled mini-batches of 64, gradients clipped to norm 1 (clip_grad_norm_), the learning rate warmed up linearly for
// 200 batches then annealed on a cosine (SequentialLR of LinearLR and CosineAnnealingLR, stepped every batch). Prints
// the test accuracy per language and the confusion matrix, writes the confusion matrix (word_language_confusion.png),
// the per-batch loss, learning rate and gradient norm (word_language_training.png) and the per-epoch history
// (word_language_history.csv / .png).
//   usage: 09_word_language [output-dir] [seed]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/data.h"
#include "adgraph/nn/dropout.h"
#include "adgraph/nn/embedding.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/rnn.h"
#include "adgraph/optim/adam.h"
#include "adgraph/optim/clip_grad.h"
#include "adgraph/optim/lr_scheduler.h"
#include "adgraph/plot/plot.h"
#include "adgraph/report/report.h"

namespace {

struct Language {
  const char* code;
  const char* name;
  const char* file;     // under /usr/share/dict
  const char* package;  // the Debian package that installs it
  bool capitalized_nouns;
};
constexpr Language kLanguages[] = {
    {"en", "English", "american-english", "wamerican", false},
    {"fr", "French", "french", "wfrench", false},
    {"de", "German", "ngerman", "wngerman", true},
    {"es", "Spanish", "spanish", "wspanish", false},
    {"it", "Italian", "italian", "witalian", false},
};
constexpr int kClasses = 5;

constexpr std::size_t kMinLength = 3, kMaxLength = 14;  // letters (code points)
constexpr std::int64_t kPerLanguage = 10000, kTestPerLanguage = 1000;
constexpr std::int64_t kPad = 0, kUnk = 1;
constexpr std::int64_t kEmbed = 16, kHidden = 64;

// ---- UTF-8 and letters

// Decodes UTF-8 into code points; false on a malformed sequence (a stray continuation byte, a
// truncated sequence, an overlong form, a surrogate or a value above U+10FFFF).
bool decode_utf8(std::string_view s, std::u32string& out) {
  out.clear();
  static constexpr char32_t kMinOfLength[] = {0, 0, 0x80, 0x800, 0x10000};
  for (std::size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t n;
    char32_t cp;
    if (b0 < 0x80) {
      n = 1, cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      n = 2, cp = b0 & 0x1Fu;
    } else if ((b0 & 0xF0) == 0xE0) {
      n = 3, cp = b0 & 0x0Fu;
    } else if ((b0 & 0xF8) == 0xF0) {
      n = 4, cp = b0 & 0x07u;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < kMinOfLength[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out.push_back(cp);
    i += n;
  }
  return true;
}

std::string encode_utf8(std::u32string_view w) {
  std::string s;
  for (const char32_t c : w) {
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else if (c < 0x800) {
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      s += static_cast<char>(0xE0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (c >> 18));
      s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return s;
}

// Letters of ASCII and Latin-1 (U+00C0-U+00FF but the signs x and /): every letter the five
// lists use. Upper case maps to lower case by +32 in both ranges (A-Z, and U+00C0-U+00DE).
bool is_upper(char32_t c) { return (c >= U'A' && c <= U'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7); }
bool is_lower(char32_t c) { return (c >= U'a' && c <= U'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7); }
bool is_letter(char32_t c) { return is_upper(c) || is_lower(c); }
char32_t to_lower(char32_t c) { return is_upper(c) ? c + 32 : c; }

// ---- the word lists

struct ListStats {
  std::int64_t lines = 0, non_letter = 0, proper = 0, length = 0, kept = 0;
};

// The lowercased, filtered, distinct words of one list (in code-point order).
std::set<std::u32string> read_words(const Language& lang, ListStats& st) {
  const std::filesystem::path path = std::filesystem::path("/usr/share/dict") / lang.file;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ad::Error("cannot read " + path.string() + ": install the word lists with `apt-get install " +
                    "wamerican wfrench wngerman wspanish witalian` (or run scripts/setup.sh); " + lang.package +
                    " provides this one");
  std::set<std::u32string> words;
  std::string line;
  std::u32string w;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty()) continue;
    ++st.lines;
    if (!decode_utf8(line, w) || !std::all_of(w.begin(), w.end(), is_letter)) {
      ++st.non_letter;  // apostrophes ("Californian's", "dell'"), hyphens, digits, other scripts
      continue;
    }
    if ((is_upper(w[0]) && !lang.capitalized_nouns) || std::any_of(w.begin() + 1, w.end(), is_upper)) {
      ++st.proper;  // proper names and acronyms
      continue;
    }
    if (w.size() < kMinLength || w.size() > kMaxLength) {
      ++st.length;
      continue;
    }
    std::transform(w.begin(), w.end(), w.begin(), to_lower);
    words.insert(w);
  }
  st.kept = static_cast<std::int64_t>(words.size());
  return words;
}

// ---- the model

// Embedding -> LSTM (masked by the words' lengths) -> dropout -> Linear on the final state.
class WordClassifier : public ad::nn::Module {
 public:
  WordClassifier(std::int64_t vocab, ad::Generator& gen)
      : embed_(register_module(
            "embed", std::make_shared<ad::nn::Embedding>(vocab, kEmbed, ad::nn::EmbeddingOptions{.padding_idx = kPad},
                                                         ad::kFloat32, &gen))),
        lstm_(register_module("lstm",
                              std::make_shared<ad::nn::LSTM>(kEmbed, kHidden, ad::nn::LSTMOptions{.batch_first = true},
                                                             ad::kFloat32, &gen))),
        drop_(register_module("drop", std::make_shared<ad::nn::Dropout>(0.2, &gen))),
        out_(register_module("out", std::make_shared<ad::nn::Linear>(kHidden, kClasses, true, ad::kFloat32, &gen))) {}

  // x: Int64 [N, L] character indices, padded with kPad after each word; returns logits [N, 5].
  ad::Tensor forward(const ad::Tensor& x) const override {
    const ad::Tensor lengths = ad::sum(ad::ne(x, ad::scalar_tensor(kPad, ad::dtype(ad::kInt64))), {1});  // Int64 [N]
    const ad::nn::RNNResult r = lstm_->forward_with_state((*embed_)(x), {}, lengths);
    const ad::Tensor h = r.h_n.select(0, 0);  // [N, H]: each word's state after its last letter
    return (*out_)((*drop_)(h));
  }

 private:
  std::shared_ptr<ad::nn::Embedding> embed_;
  std::shared_ptr<ad::nn::LSTM> lstm_;
  std::shared_ptr<ad::nn::Dropout> drop_;
  std::shared_ptr<ad::nn::Linear> out_;
};

// Predicted classes in eval mode (no dropout), in chunks of 1000 words.
std::vector<int> predict(ad::nn::Module& model, const ad::Tensor& X) {
  ad::NoGradGuard no_grad;
  model.eval();
  std::vector<int> pred;
  for (std::int64_t s = 0; s < X.size(0); s += 1000) {
    const std::int64_t n = std::min<std::int64_t>(1000, X.size(0) - s);
    for (const double p : ad::argmax(model(X.narrow(0, s, n)), 1).to_vector()) pred.push_back(static_cast<int>(p));
  }
  model.train();
  return pred;
}

double accuracy(const std::vector<int>& pred, const std::vector<int>& truth) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == truth[i];
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

// The mean of the last `window` values up to each index.
std::vector<double> running_mean(const std::vector<double>& v, std::size_t window) {
  std::vector<double> out(v.size());
  double sum = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    sum += v[i];
    if (i >= window) sum -= v[i - window];
    out[i] = sum / static_cast<double>(std::min(i + 1, window));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    // One thread: the matrices are small (at most [64, 64] x [64, 256] per step), and a second
    // OpenMP thread costs more in synchronisation than it saves (measured on 2 busy cores: two
    // threads made the run 10-20 times slower).
    ad::set_num_threads(1);
    const std::filesystem::path dir = argc > 1 ? argv[1] : "out";
    const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
    std::filesystem::create_directories(dir);
    const auto t0 = std::chrono::steady_clock::now();

    // ---- read, filter, drop the words of several lists, sample
    std::vector<std::set<std::u32string>> lists;
    std::map<std::u32string, int> list_count;  // in how many lists each word is
    for (const Language& lang : kLanguages) {
      ListStats st;
      lists.push_back(read_words(lang, st));
      for (const std::u32string& w : lists.back()) ++list_count[w];
      std::printf(
          "%s (/usr/share/dict/%s): %lld lines; dropped %lld with non-letters, %lld proper names/acronyms, %lld "
          "shorter than %zu or longer than %zu letters; %lld distinct words\n",
          lang.code, lang.file, static_cast<long long>(st.lines), static_cast<long long>(st.non_letter),
          static_cast<long long>(st.proper), static_cast<long long>(st.length), kMinLength, kMaxLength,
          static_cast<long long>(st.kept));
    }
    ad::Generator gen(seed);
    std::vector<std::u32string> train_words, test_words;
    std::vector<int> train_labels, test_labels;
    for (int k = 0; k < kClasses; ++k) {
      std::vector<std::u32string> unique;  // in exactly one list
      for (const std::u32string& w : lists[static_cast<std::size_t>(k)])
        if (list_count[w] == 1) unique.push_back(w);
      std::printf("%s: %zu words in no other list (%zu shared, dropped)\n", kLanguages[k].code, unique.size(),
                  lists[static_cast<std::size_t>(k)].size() - unique.size());
      if (static_cast<std::int64_t>(unique.size()) < kPerLanguage)
        throw ad::Error(std::string("too few words for ") + kLanguages[k].name);
      const std::vector<double> perm = ad::randperm(static_cast<std::int64_t>(unique.size()), &gen).to_vector();
      for (std::int64_t i = 0; i < kPerLanguage; ++i) {
        const std::u32string& w = unique[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])];
        (i < kTestPerLanguage ? test_words : train_words).push_back(w);
        (i < kTestPerLanguage ? test_labels : train_labels).push_back(k);
      }
    }

    // ---- the character vocabulary of the training words; the words as padded index rows
    std::set<char32_t> chars;
    for (const std::u32string& w : train_words) chars.insert(w.begin(), w.end());
    std::map<char32_t, std::int64_t> index;
    for (const char32_t c : chars) index.emplace(c, static_cast<std::int64_t>(index.size()) + 2);  // 0 <pad>, 1 <unk>
    const auto vocab = static_cast<std::int64_t>(index.size()) + 2;
    // Rows of kMaxLength indices, kPad after the word; `unknown` counts the letters mapped to kUnk.
    const auto encode = [&index](const std::vector<std::u32string>& words, std::int64_t& unknown) {
      std::vector<std::int64_t> ids(words.size() * kMaxLength, kPad);
      for (std::size_t i = 0; i < words.size(); ++i)
        for (std::size_t t = 0; t < words[i].size(); ++t) {
          const auto it = index.find(words[i][t]);
          unknown += it == index.end();
          ids[i * kMaxLength + t] = it == index.end() ? kUnk : it->second;
        }
      return ad::index_tensor(ids, {static_cast<std::int64_t>(words.size()), static_cast<std::int64_t>(kMaxLength)});
    };
    const auto labels = [](const std::vector<int>& v) {
      return ad::index_tensor(std::vector<std::int64_t>(v.begin(), v.end()));
    };
    std::int64_t unknown_train = 0, unknown = 0;  // none in training, by construction
    const ad::Tensor X_train = encode(train_words, unknown_train), y_train = labels(train_labels);
    const ad::Tensor X_test = encode(test_words, unknown);
    std::u32string non_ascii;
    for (const char32_t c : chars)
      if (c >= 0x80) non_ascii += c;
    std::printf("%zu training and %zu test words (%lld + %lld per language, seed %llu)\n", train_words.size(),
                test_words.size(), static_cast<long long>(kPerLanguage - kTestPerLanguage),
                static_cast<long long>(kTestPerLanguage), static_cast<unsigned long long>(seed));
    std::printf("vocabulary: %lld characters (<pad>, <unk>, a-z and %s); %lld letters of the test words are <unk>\n",
                static_cast<long long>(vocab), encode_utf8(non_ascii).c_str(), static_cast<long long>(unknown));

    // ---- model, optimizer, schedule
    WordClassifier model(vocab, gen);
    std::printf(
        "model: Embedding(%lld, %lld) -> LSTM(%lld, %lld), masked by length -> dropout 0.2 -> Linear(%lld, %d); "
        "%lld parameters\n",
        static_cast<long long>(vocab), static_cast<long long>(kEmbed), static_cast<long long>(kEmbed),
        static_cast<long long>(kHidden), static_cast<long long>(kHidden), kClasses,
        static_cast<long long>(model.num_parameters()));
    const std::vector<ad::Tensor> params = model.parameters();
    const double lr = 5e-3, lr_min = 5e-5, weight_decay = 1e-4;
    ad::optim::AdamW opt(params, {.lr = lr, .weight_decay = weight_decay});
    const int epochs = 4;
    const std::int64_t batch_size = 64;
    ad::data::DataLoader loader(X_train, y_train, batch_size, /*shuffle=*/true, &gen);
    const std::int64_t total_steps = epochs * loader.num_batches(), warmup = 200;
    const double max_norm = 1.0;
    auto warm = std::make_shared<ad::optim::LinearLR>(
        opt, ad::optim::LinearLROptions{.start_factor = 0.02, .end_factor = 1.0, .total_iters = warmup});
    auto cosine = std::make_shared<ad::optim::CosineAnnealingLR>(opt, total_steps - warmup, lr_min);
    ad::optim::SequentialLR schedule(opt, {warm, cosine}, {warmup});
    std::printf(
        "AdamW lr %g (weight decay %g), %d epochs of %lld batches of %lld: linear warm-up over %lld "
        "batches, then cosine to %g; gradients clipped to norm %.1f\n",
        lr, weight_decay, epochs, static_cast<long long>(loader.num_batches()), static_cast<long long>(batch_size),
        static_cast<long long>(warmup), lr_min, max_norm);

    // ---- train
    ad::report::History history;  // per epoch: "loss", "train_acc" (of the batches, dropout on), "test_acc"
    ad::report::Progress progress("words", epochs);
    std::vector<double> batch_loss, batch_lr, batch_norm;
    std::int64_t clipped = 0;
    const auto t_train = std::chrono::steady_clock::now();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      double total = 0;
      std::int64_t right = 0;
      for (auto [xb, yb] : loader) {
        batch_lr.push_back(opt.lr());
        opt.zero_grad();
        const ad::Tensor logits = model(xb);
        const ad::Tensor loss = ad::nn::cross_entropy(logits, yb);
        loss.backward();
        const double norm = ad::optim::clip_grad_norm_(params, max_norm);
        opt.step();
        schedule.step();
        clipped += norm > max_norm;
        batch_norm.push_back(norm);
        batch_loss.push_back(loss.item());
        total += loss.item() * static_cast<double>(xb.size(0));
        right += ad::sum(ad::eq(ad::argmax(logits, 1), yb)).item<std::int64_t>();
      }
      const auto n = static_cast<double>(X_train.size(0));
      const ad::report::Metrics metrics = {{"loss", total / n},
                                           {"train_acc", static_cast<double>(right) / n},
                                           {"test_acc", accuracy(predict(model, X_test), test_labels)}};
      history.record(epoch, metrics);
      progress.update(epoch, metrics);
    }
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();
    std::printf("trained in %.1f s; %lld of %zu batches had a gradient norm above %.1f and were clipped\n",
                train_seconds, static_cast<long long>(clipped), batch_norm.size(), max_norm);

    // ---- evaluate: per language, confusion matrix, some mistakes
    const std::vector<int> pred = predict(model, X_test);
    std::vector<std::vector<int>> confusion(kClasses, std::vector<int>(kClasses, 0));
    for (std::size_t i = 0; i < pred.size(); ++i)
      ++confusion[static_cast<std::size_t>(test_labels[i])][static_cast<std::size_t>(pred[i])];
    std::printf("confusion matrix of the test words (rows: true, columns: predicted)\n       ");
    for (const Language& lang : kLanguages) std::printf("%6s", lang.code);
    std::printf("   accuracy\n");
    double worst = 1;
    for (int k = 0; k < kClasses; ++k) {
      std::printf("  %-5s", kLanguages[k].code);
      for (int j = 0; j < kClasses; ++j)
        std::printf("%6d", confusion[static_cast<std::size_t>(k)][static_cast<std::size_t>(j)]);
      const double acc =
          confusion[static_cast<std::size_t>(k)][static_cast<std::size_t>(k)] / static_cast<double>(kTestPerLanguage);
      worst = std::min(worst, acc);
      std::printf("   %s %.3f\n", kLanguages[k].name, acc);
    }
    for (int k = 0; k < kClasses; ++k) {
      std::string shown;
      int count = 0;
      for (std::size_t i = 0; i < pred.size() && count < 4; ++i)
        if (test_labels[i] == k && pred[i] != k) {
          shown += " " + encode_utf8(test_words[i]) + " (" + kLanguages[pred[i]].code + ")";
          ++count;
        }
      std::printf("  %s words taken for another language:%s\n", kLanguages[k].code, shown.c_str());
    }
    const double test_acc = accuracy(pred, test_labels);
    // Measured with seeds 1-6: 0.904 to 0.918, the weakest language 0.869 (French, seed 1) to
    // 0.901; chance is 0.2.
    const bool reached = test_acc >= 0.85, every = worst >= 0.75;
    std::printf("final test accuracy %.4f (>= 0.85: %s); every language >= 0.75: %s\n", test_acc,
                reached ? "yes" : "NO", every ? "yes" : "NO");

    // ---- pictures
    // The confusion matrix as a heatmap of row shares: cell (j, k) at x = predicted j, y = true k
    // (English at the bottom); beside it the mistakes alone (the diagonal left blank), on their
    // own colour scale. Each field is piecewise constant on a fine grid, so the bilinear heatmap
    // draws flat cells; at this panel size the automatic ticks fall on the cells' centres.
    const ad::plot::GridSpec g{
        .x0 = -0.5, .x1 = kClasses - 0.5, .y0 = -0.5, .y1 = kClasses - 0.5, .nx = 400, .ny = 400};
    std::vector<double> share(static_cast<std::size_t>(g.nx) * static_cast<std::size_t>(g.ny)), mistakes(share.size());
    double worst_mistake = 0;
    for (int jy = 0; jy < g.ny; ++jy)
      for (int ix = 0; ix < g.nx; ++ix) {
        const auto col = static_cast<std::size_t>(std::clamp(static_cast<int>(std::lround(g.x(ix))), 0, kClasses - 1));
        const auto row = static_cast<std::size_t>(std::clamp(static_cast<int>(std::lround(g.y(jy))), 0, kClasses - 1));
        const std::size_t at =
            static_cast<std::size_t>(jy) * static_cast<std::size_t>(g.nx) + static_cast<std::size_t>(ix);
        share[at] = confusion[row][col] / static_cast<double>(kTestPerLanguage);
        mistakes[at] = row == col ? std::nan("") : share[at];
        if (row != col) worst_mistake = std::max(worst_mistake, share[at]);
      }
    ad::plot::HeatmapOptions heat;
    heat.vmin = 0;
    heat.vmax = 1;
    heat.colorbar_label = "share of the true language's test words";
    ad::plot::HeatmapOptions heat_mistakes = heat;
    heat_mistakes.vmax = std::max(worst_mistake, 0.01);
    heat_mistakes.colorbar_label = "share taken for the other language";
    ad::plot::Figure cm = ad::plot::Figure::subplots(1, 2, 520, 420);
    char cm_title[96];
    std::snprintf(cm_title, sizeof cm_title, "test words: confusion matrix (accuracy %.3f)", test_acc);
    cm.suptitle(cm_title);
    const std::pair<const char*, const std::vector<double>*> panels[] = {{"row shares", &share},
                                                                         {"the mistakes alone", &mistakes}};
    for (int p = 0; p < 2; ++p)
      cm.panel(p)
          .title(panels[p].first)
          .xlabel("predicted: 0 en, 1 fr, 2 de, 3 es, 4 it")
          .ylabel("true: 0 en, 1 fr, 2 de, 3 es, 4 it")
          .xlim(-0.5, kClasses - 0.5)
          .ylim(-0.5, kClasses - 0.5)
          .grid(false)
          .heatmap(ad::plot::Field(g, *panels[p].second), p == 0 ? heat : heat_mistakes);
    const std::string cm_png = (dir / "word_language_confusion.png").string();
    cm.save(cm_png);

    // Loss, learning rate and gradient norm per batch.
    const std::vector<double> steps = ad::plot::range(batch_loss.size(), 1.0);
    ad::plot::Figure curves = ad::plot::Figure::subplots(1, 3, 400, 330);
    curves.suptitle("training per batch: loss, learning rate (warm-up + cosine), gradient norm before clipping");
    curves.panel(0)
        .title("cross-entropy loss")
        .xlabel("batch")
        .log_y()
        .line(steps, batch_loss, "batch", ad::plot::palette(0).lighter(0.6), 1.0)
        .line(steps, running_mean(batch_loss, 50), "mean of 50", ad::plot::palette(0));
    curves.panel(1).title("learning rate").xlabel("batch").line(steps, batch_lr, {}, ad::plot::palette(2));
    curves.panel(2)
        .title("gradient norm")
        .xlabel("batch")
        .log_y()
        .line(steps, batch_norm, "||g|| before clipping", ad::plot::palette(1).lighter(0.3), 1.0)
        .line({steps.front(), steps.back()}, {max_norm, max_norm}, "max_norm", ad::plot::Color{0, 0, 0, 0.8}, 1.5,
              true);
    const std::string curves_png = (dir / "word_language_training.png").string();
    curves.save(curves_png);
    const std::string history_path = (dir / "word_language_history").string();
    history.save(history_path, "word language: Embedding + LSTM, AdamW, warm-up + cosine, clipping");
    std::printf("pictures: %s, %s, %s.png (history also as .csv)\n", cm_png.c_str(), curves_png.c_str(),
                history_path.c_str());

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("total time %.1f s\n", seconds);
    if (reached && every) std::printf("all checks passed\n");
    return reached && every ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "09_word_language failed: %s\n", e.what());
    return 1;
  }
}
