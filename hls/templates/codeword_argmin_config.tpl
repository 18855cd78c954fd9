struct config{index} : nnet::codeword_argmin_config {{
    static const unsigned n_vectors = {n_vectors};
    static const unsigned n_codes = {n_codes};
}};
