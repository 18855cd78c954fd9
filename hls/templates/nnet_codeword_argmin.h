#ifndef NNET_CODEWORD_ARGMIN_H_
#define NNET_CODEWORD_ARGMIN_H_

#include "nnet_common.h"

namespace nnet {

struct codeword_argmin_config {
    static const unsigned n_vectors = 1;
    static const unsigned n_codes = 2;
};

// index[l] = lowest k with scores[l][k] == min_j scores[l][j]  (row-major (n_vectors, n_codes))
template <class data_T, class res_T, typename CONFIG_T>
void codeword_argmin(data_T scores[CONFIG_T::n_vectors * CONFIG_T::n_codes], res_T index[CONFIG_T::n_vectors]) {
VectorLoop:
    for (unsigned l = 0; l < CONFIG_T::n_vectors; l++) {
        data_T best = scores[l * CONFIG_T::n_codes];
        res_T best_k = 0;
    CodeLoop:
        for (unsigned k = 1; k < CONFIG_T::n_codes; k++) {
            if (scores[l * CONFIG_T::n_codes + k] < best) {
                best = scores[l * CONFIG_T::n_codes + k];
                best_k = k;
            }
        }
        index[l] = best_k;
    }
}

} // namespace nnet

#endif
