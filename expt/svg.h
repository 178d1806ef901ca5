// Line charts as standalone SVG, no external libraries (expt/svg.c): the loss and learning-rate
// curve of a record, and two loss curves side by side for `expt diff`. Output is deterministic
// (fixed number formatting), so regenerating an unchanged chart gives identical bytes.
#ifndef EXPT_SVG_H
#define EXPT_SVG_H

#include <stddef.h>

typedef struct ex_series {
    const char *label;  // legend text
    const double *x, *y;
    int n;
    const char *color;  // "#1f77b4"
    int right_axis;     // 1: plotted against the right-hand y axis
    int dashed;
} ex_series;

typedef struct ex_chart {
    const char *title;
    const char *x_label;
    const char *y_label;        // left axis
    const char *y2_label;       // right axis (NULL when no series uses it)
    int width, height;          // pixels (0: 720 x 360)
} ex_chart;

// Renders the chart into a malloc'd NUL-terminated string. Non-finite points are skipped; long
// series are thinned to at most 2000 drawn points (first and last always kept).
char *ex_svg_render(const ex_chart *c, const ex_series *s, int n_series);
// Renders and writes the file (atomically, and only when its bytes change). 0 or -1.
int ex_svg_write(const char *path, const ex_chart *c, const ex_series *s, int n_series);

#endif
