// `minimind generate`: continue a free-form prompt with a checkpoint (KV cache, streaming).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/error.h"
#include "minimind/inference.h"
#include "options.h"

static const char mm_generate_usage[] =
    "usage: minimind generate --model_path CKPT.safetensors --prompt TEXT [--max_new_tokens 100]\n"
    "                         [--sample [--temperature 0.85] [--top_p 0.85] [--seed 42]]\n"
    "                         [--tokenizer PATH] [--device auto|cpu|cuda[:N]]\n"
    "\n"
    "Prints the prompt's continuation as it is generated (greedy unless --sample). The prompt is\n"
    "encoded after <s>, as the training documents are; generation stops at </s>.\n";

static int mm_print_token(void *user, int32_t id) {
    mm_inference *inf = user;
    size_t len = 0;
    const char *bytes = mm_tokenizer_token_bytes(inf->tok, id, &len);
    if (bytes) fwrite(bytes, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int mm_cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *tokenizer = NULL, *device = NULL;
    int max_new = 100, sample = 0;
    double temperature = 0.85, top_p = 0.85, seed = 42;
    mm_opt opts[] = {
        mm_opt_required(mm_opt_str("--model_path CKPT.safetensors", &model_path)),
        mm_opt_required(mm_opt_str("--prompt TEXT", &prompt)),
        mm_opt_str("--tokenizer", &tokenizer),
        mm_opt_int("--max_new_tokens", &max_new, 0, INT_MAX),
        mm_opt_flag("--sample", &sample),
        mm_opt_float("--temperature", &temperature, -INFINITY, INFINITY),
        mm_opt_float("--top_p", &top_p, -INFINITY, INFINITY),
        mm_opt_float("--seed", &seed, 0, INFINITY),
        mm_opt_str("--device", &device),
    };
    int rc = mm_cli_parse("generate", mm_generate_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    mm_inference inf;
    if (mm_inference_open_on(&inf, device, model_path, tokenizer, NULL, 0) != 0) return mm_cli_fail();
    mm_ids ids = {0}, out = {0};
    mm_sampler smp = {0};
    rc = mm_ids_push(&ids, MM_TOKEN_BOS) || mm_tokenizer_encode(inf.tok, prompt, strlen(prompt), &ids) ||
         mm_sampler_init(&smp, inf.cfg.model.vocab_size, sample ? (float)temperature : 0.0f,
                         sample ? (float)top_p : 1.0f, (uint64_t)seed);
    if (rc == 0) {
        fputs(prompt, stdout);
        rc = mm_generate(&inf, ids.data, (int)ids.len, max_new, &smp, &out, mm_print_token, &inf);
        fputc('\n', stdout);
    }
    if (rc != 0) mm_cli_fail();
    mm_sampler_free(&smp);
    mm_ids_free(&ids);
    mm_ids_free(&out);
    mm_inference_close(&inf);
    return rc != 0;
}
