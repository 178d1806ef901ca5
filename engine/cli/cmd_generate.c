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
    mm_option opts[] = {
        {"--model_path", MM_OPT_STR, &model_path, 0},   {"--prompt", MM_OPT_STR, &prompt, 0},
        {"--tokenizer", MM_OPT_STR, &tokenizer, 0},     {"--max_new_tokens", MM_OPT_INT, &max_new, 0},
        {"--sample", MM_OPT_FLAG, &sample, 0},           {"--temperature", MM_OPT_FLOAT, &temperature, 0},
        {"--top_p", MM_OPT_FLOAT, &top_p, 0},            {"--seed", MM_OPT_FLOAT, &seed, 0},
        {"--device", MM_OPT_STR, &device, 0},
    };
    int rc = mm_options_parse("generate", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), mm_generate_usage);
    if (rc == 1) return 0;
    if (rc != 0) return rc;
    if (!model_path || !prompt) return mm_cli_usage_error("generate: --model_path and --prompt are required");
    if (max_new < 0 || seed < 0) return mm_cli_usage_error("generate: --max_new_tokens and --seed must be >= 0");
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
