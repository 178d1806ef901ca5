// Dynamic loss scaling for fp16 training, torch.cuda.amp.GradScaler semantics (minimind/loss_scale.h).
// The update is GradScaler's _amp_update_scale_ on the host:
//   non-finite: scale *= backoff, good = 0
//   finite:     good + 1 == interval ? (scale *= growth if that stays finite; good = 0) : good += 1
#include "minimind/loss_scale.h"

#include <math.h>

#include "minimind/error.h"

void mm_loss_scaler_init(mm_loss_scaler *s) {
    s->scale = MM_LOSS_SCALE_INIT;
    s->good_steps = 0;
}

float mm_loss_scaler_inv(const mm_loss_scaler *s) { return (float)(1.0 / (double)s->scale); }

int mm_loss_scaler_update(mm_loss_scaler *s, int finite) {
    if (!finite) {
        s->scale *= MM_LOSS_SCALE_BACKOFF;
        s->good_steps = 0;
        return 0;
    }
    if (s->good_steps + 1 == MM_LOSS_SCALE_INTERVAL) {
        float grown = s->scale * MM_LOSS_SCALE_GROWTH;
        if (isfinite(grown)) s->scale = grown;
        s->good_steps = 0;
    } else {
        s->good_steps++;
    }
    return 1;
}

int mm_loss_scaler_collapsed(const mm_loss_scaler *s) { return !(s->scale >= MM_LOSS_SCALE_MIN); }

int mm_loss_scaler_to_json(const mm_loss_scaler *s, json_t *obj) {
    if (json_object_set_new(obj, "loss_scale", json_real(s->scale)) != 0 ||
        json_object_set_new(obj, "loss_scale_good_steps", json_integer(s->good_steps)) != 0)
        return mm_errorf("out of memory (loss scale state)");
    return 0;
}

int mm_loss_scaler_from_json(mm_loss_scaler *s, const json_t *obj, const char *where) {
    const json_t *sc = json_object_get(obj, "loss_scale"), *gs = json_object_get(obj, "loss_scale_good_steps");
    if (!json_is_number(sc) || !json_is_integer(gs))
        return mm_errorf("%s: resume state: no fp16 loss scale (loss_scale, loss_scale_good_steps)", where);
    double v = json_number_value(sc);
    json_int_t g = json_integer_value(gs);
    if (!(v > 0.0 && v <= 3.4e38) || g < 0 || g >= MM_LOSS_SCALE_INTERVAL)
        return mm_errorf("%s: resume state: loss_scale %g / loss_scale_good_steps %lld out of range", where, v,
                         (long long)g);
    s->scale = (float)v;
    s->good_steps = (long)g;
    return 0;
}
