// Unit-norm decoder rows, threaded (src/sae/decoderNorm.ts has the twins): the same f64 sums in the
// same order (column ascending), rounded where the twins round, so results equal theirs bit for bit.
#ifndef SAELAB_DECODER_NORM_H
#define SAELAB_DECODER_NORM_H
#include <stdint.h>

// g[r] ← g[r] − (g[r]·w[r]) w[r] for each row of [rows, cols].
void remove_parallel_grad(float *g, const float *w, int64_t rows, int64_t cols, int threads);

// w[r] ← w[r] / ‖w[r]‖ for each row (zero rows stay zero).
void normalize_rows(float *w, int64_t rows, int64_t cols, int threads);
#endif
