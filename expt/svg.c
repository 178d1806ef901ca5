// Deterministic SVG line charts (see svg.h).
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "strbuf.h"

#define EX_SVG_MAX_POINTS 2000

typedef struct ex_range {
    double lo, hi;
    int any;
} ex_range;

static void ex_range_add(ex_range *r, double v) {
    if (!isfinite(v)) return;
    if (!r->any) r->lo = r->hi = v, r->any = 1;
    if (v < r->lo) r->lo = v;
    if (v > r->hi) r->hi = v;
}

static void ex_range_fix(ex_range *r) {
    if (!r->any) r->lo = 0, r->hi = 1;
    if (r->hi - r->lo < 1e-12 * (fabs(r->hi) + 1)) {
        double pad = fabs(r->hi) > 0 ? fabs(r->hi) * 0.05 : 1;
        r->lo -= pad;
        r->hi += pad;
    }
}

static void ex_xml_text(ex_buf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') ex_buf_puts(b, "&lt;");
        else if (*s == '>') ex_buf_puts(b, "&gt;");
        else if (*s == '&') ex_buf_puts(b, "&amp;");
        else if (*s == '"') ex_buf_puts(b, "&quot;");
        else ex_buf_append(b, s, 1);
    }
}

// A tick label: compact, fixed formatting.
static void ex_tick(char *out, size_t n, double v) {
    double a = fabs(v);
    if (v == 0) snprintf(out, n, "0");
    else if (a >= 1e5 || a < 1e-3) snprintf(out, n, "%.1e", v);
    else if (a >= 100) snprintf(out, n, "%.0f", v);
    else if (a >= 1) snprintf(out, n, "%.2f", v);
    else snprintf(out, n, "%.4f", v);
}

char *ex_svg_render(const ex_chart *c, const ex_series *s, int n_series) {
    int W = c->width > 0 ? c->width : 720, H = c->height > 0 ? c->height : 360;
    const double L = 70, R = 75, T = 40, B = 50;
    double pw = W - L - R, ph = H - T - B;
    ex_range xr = {0}, yl = {0}, yr = {0};
    int has_right = 0;
    for (int i = 0; i < n_series; i++)
        for (int j = 0; j < s[i].n; j++) {
            if (!isfinite(s[i].x[j]) || !isfinite(s[i].y[j])) continue;
            ex_range_add(&xr, s[i].x[j]);
            ex_range_add(s[i].right_axis ? &yr : &yl, s[i].y[j]);
            has_right |= s[i].right_axis;
        }
    ex_range_fix(&xr);
    ex_range_fix(&yl);
    ex_range_fix(&yr);
    ex_buf b = {0};
    ex_buf_printf(&b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                  "font-family=\"sans-serif\" font-size=\"12\">\n",
                  W, H, W, H);
    ex_buf_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    ex_buf_printf(&b, "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    ex_xml_text(&b, c->title);
    ex_buf_puts(&b, "</text>\n");
    // Grid and ticks: 5 intervals per axis.
    for (int k = 0; k <= 5; k++) {
        double fy = T + ph * k / 5.0, fx = L + pw * k / 5.0;
        char t[32];
        ex_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, fy, L + pw, fy);
        ex_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", fx, T, fx, T + ph);
        ex_tick(t, sizeof t, yl.hi - (yl.hi - yl.lo) * k / 5.0);
        ex_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", L - 6, fy + 4, t);
        if (has_right) {
            ex_tick(t, sizeof t, yr.hi - (yr.hi - yr.lo) * k / 5.0);
            ex_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", L + pw + 6, fy + 4, t);
        }
        ex_tick(t, sizeof t, xr.lo + (xr.hi - xr.lo) * k / 5.0);
        ex_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", fx, T + ph + 18, t);
    }
    ex_buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", L,
                  T, pw, ph);
    ex_buf_printf(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", L + pw / 2, H - 10);
    ex_xml_text(&b, c->x_label);
    ex_buf_printf(&b, "</text>\n<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
    ex_xml_text(&b, c->y_label);
    ex_buf_puts(&b, "</text>\n");
    if (has_right && c->y2_label) {
        ex_buf_printf(&b, "<text transform=\"translate(%d %.1f) rotate(90)\" text-anchor=\"middle\">", W - 12, T + ph / 2);
        ex_xml_text(&b, c->y2_label);
        ex_buf_puts(&b, "</text>\n");
    }
    for (int i = 0; i < n_series; i++) {
        const ex_range *y = s[i].right_axis ? &yr : &yl;
        int stride = s[i].n > EX_SVG_MAX_POINTS ? (s[i].n + EX_SVG_MAX_POINTS - 1) / EX_SVG_MAX_POINTS : 1;
        ex_buf_printf(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", s[i].color,
                      s[i].dashed ? " stroke-dasharray=\"6 3\"" : "");
        int first = 1;
        for (int j = 0; j < s[i].n; j++) {
            if (j % stride != 0 && j != s[i].n - 1) continue;
            double xv = s[i].x[j], yv = s[i].y[j];
            if (!isfinite(xv) || !isfinite(yv)) continue;
            double px = L + pw * (xv - xr.lo) / (xr.hi - xr.lo), py = T + ph * (1 - (yv - y->lo) / (y->hi - y->lo));
            ex_buf_printf(&b, "%s%.1f,%.1f", first ? "" : " ", px, py);
            first = 0;
        }
        ex_buf_puts(&b, "\"/>\n");
        // Legend entry.
        double ly = T + 14 + 16 * i;
        ex_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                      L + pw - 150, ly - 4, L + pw - 128, ly - 4, s[i].color,
                      s[i].dashed ? " stroke-dasharray=\"6 3\"" : "");
        ex_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">", L + pw - 122, ly);
        ex_xml_text(&b, s[i].label);
        ex_buf_puts(&b, s[i].right_axis ? " (right)</text>\n" : "</text>\n");
    }
    ex_buf_puts(&b, "</svg>\n");
    return ex_buf_take(&b);
}

int ex_svg_write(const char *path, const ex_chart *c, const ex_series *s, int n_series) {
    char *svg = ex_svg_render(c, s, n_series);
    if (!svg) return -1;
    int rc = ex_write_if_changed(path, svg, strlen(svg), NULL);
    free(svg);
    return rc;
}
