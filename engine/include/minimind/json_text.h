// JSON strings of text that may not be valid UTF-8. Byte-level tokens can split a character (a
// prompt cut after N tokens, a generation stopped mid-character, a bank entry cut at its length),
// and file names or git output need not be UTF-8; jansson refuses such text (json_string returns
// NULL, and a field set from it silently goes missing). Shared by the engine and expt (mm_util).
#ifndef MINIMIND_JSON_TEXT_H
#define MINIMIND_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

// A JSON string of s[0..n): each maximal invalid UTF-8 subpart becomes one U+FFFD, as Python's
// errors="replace" and Hugging Face's decode do (new reference). NULL (error set) when out of
// memory.
json_t *mm_json_text(const char *s, size_t n);

#endif
