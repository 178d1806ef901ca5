// The demo world model (see minimind/demo_data.h): a deterministic PRNG, names built from
// syllables (rendered in Latin letters and in Chinese characters from one syllable sequence),
// a consistent set of entities and functional facts, and the sentence templates that render them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/demo_data.h"
#include "minimind/error.h"
#include "minimind/splitmix.h"

// ---------------------------------------------------------------------------------------------
// PRNG: splitmix64 expands (seed, stream) into the xoshiro256** state.

void mm_demo_rng_seed(mm_demo_rng *rng, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) rng->s[i] = mm_splitmix64(&x);
}

static uint64_t mm_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mm_demo_rng_next(mm_demo_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = mm_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = mm_rotl(s[3], 45);
    return result;
}

uint64_t mm_demo_rng_below(mm_demo_rng *rng, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the top partial block
    uint64_t x;
    do x = mm_demo_rng_next(rng);
    while (x >= limit);
    return x % n;
}

void mm_demo_rng_shuffle(mm_demo_rng *rng, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)mm_demo_rng_below(rng, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static int mm_rand_range(mm_demo_rng *rng, int lo, int hi) {  // inclusive
    return lo + (int)mm_demo_rng_below(rng, (uint64_t)(hi - lo + 1));
}

// ---------------------------------------------------------------------------------------------
// Names. Each syllable is one consonant + one vowel, mapped to one distinct Chinese character, so
// a syllable sequence reads the same way in both scripts and distinct sequences give distinct
// names.

typedef struct mm_syllable {
    const char *lat;
    const char *han;
} mm_syllable;

static const mm_syllable mm_syllables[] = {
    {"ba", "巴"}, {"be", "贝"}, {"bi", "比"}, {"bo", "博"}, {"bu", "布"},
    {"da", "达"}, {"de", "德"}, {"di", "迪"}, {"do", "多"}, {"du", "杜"},
    {"ga", "加"}, {"ge", "格"}, {"gi", "吉"}, {"go", "戈"}, {"gu", "古"},
    {"ka", "卡"}, {"ke", "克"}, {"ki", "基"}, {"ko", "科"}, {"ku", "库"},
    {"la", "拉"}, {"le", "勒"}, {"li", "莉"}, {"lo", "洛"}, {"lu", "卢"},
    {"ma", "玛"}, {"me", "梅"}, {"mi", "米"}, {"mo", "莫"}, {"mu", "穆"},
    {"na", "纳"}, {"ne", "内"}, {"ni", "尼"}, {"no", "诺"}, {"nu", "努"},
    {"pa", "帕"}, {"pe", "佩"}, {"pi", "皮"}, {"po", "波"}, {"pu", "普"},
    {"ra", "腊"}, {"re", "瑞"}, {"ri", "里"}, {"ro", "罗"}, {"ru", "鲁"},
    {"sa", "萨"}, {"se", "塞"}, {"si", "西"}, {"so", "索"}, {"su", "苏"},
    {"ta", "塔"}, {"te", "特"}, {"ti", "蒂"}, {"to", "托"}, {"tu", "图"},
    {"va", "瓦"}, {"ve", "维"}, {"vi", "薇"}, {"vo", "沃"}, {"vu", "伍"},
    {"za", "扎"}, {"ze", "泽"}, {"zi", "兹"}, {"zo", "佐"}, {"zu", "祖"},
};
#define MM_N_SYLLABLES ((int)(sizeof mm_syllables / sizeof mm_syllables[0]))

// Word-final consonants (only at the end of a root).
static const mm_syllable mm_finals[] = {{"n", "恩"}, {"r", "尔"}, {"s", "斯"}};

typedef struct mm_suffix {
    const char *en;
    const char *zh;
} mm_suffix;

static const mm_suffix mm_country_suffixes[] = {
    {"nia", "尼亚"}, {"ria", "里亚"}, {"land", "兰"}, {"stan", "斯坦"}};
static const mm_suffix mm_language_suffixes[] = {{"ese", "语"}, {"ic", "语"}, {"i", "语"}};
static const mm_suffix mm_company_suffixes[] = {
    {" Corporation", "公司"}, {" Labs", "实验室"}, {" Works", "工坊"},
    {" Group", "集团"}, {" Systems", "系统公司"}, {" Industries", "工业"}};
static const mm_suffix mm_invention_suffixes[] = {
    {" engine", "引擎"}, {" loom", "织机"}, {" lamp", "灯"}, {" compass", "罗盘"},
    {" press", "印刷机"}, {" telescope", "望远镜"}, {" clock", "钟"}, {" pump", "泵"}};

static const mm_suffix mm_colors[] = {
    {"red", "红色"},    {"blue", "蓝色"},  {"green", "绿色"},  {"yellow", "黄色"},
    {"silver", "银色"}, {"violet", "紫色"}, {"orange", "橙色"}, {"black", "黑色"},
    {"white", "白色"},  {"grey", "灰色"},  {"golden", "金色"}, {"pink", "粉色"}};
#define MM_N_COLORS ((int)(sizeof mm_colors / sizeof mm_colors[0]))

#define MM_PICK(rng, arr) (&(arr)[mm_demo_rng_below((rng), sizeof(arr) / sizeof((arr)[0]))])

// Appends s to the NUL-terminated dst (capacity MM_DEMO_NAME_CAP); names are short by
// construction, so truncation cannot happen (the capacity check is a guard).
static void mm_name_cat(char *dst, const char *s) {
    size_t n = strlen(dst), m = strlen(s);
    if (n + m < MM_DEMO_NAME_CAP) memcpy(dst + n, s, m + 1);
}

// Appends a root of n_syl syllables (+ a final consonant when `final`), capitalized in Latin.
static void mm_name_root(mm_demo_rng *rng, int n_syl, int final, char *en, char *zh) {
    size_t start = strlen(en);
    for (int i = 0; i < n_syl; i++) {
        const mm_syllable *s = &mm_syllables[mm_demo_rng_below(rng, MM_N_SYLLABLES)];
        mm_name_cat(en, s->lat);
        mm_name_cat(zh, s->han);
    }
    if (final) {
        const mm_syllable *f = MM_PICK(rng, mm_finals);
        mm_name_cat(en, f->lat);
        mm_name_cat(zh, f->han);
    }
    if (en[start] >= 'a' && en[start] <= 'z') en[start] = (char)(en[start] - 'a' + 'A');
}

static void mm_name_suffix(const mm_suffix *sfx, char *en, char *zh) {
    mm_name_cat(en, sfx->en);
    mm_name_cat(zh, sfx->zh);
}

// One candidate name for an entity of type t (may collide; the caller retries).
static void mm_name_make(mm_demo_rng *rng, mm_demo_entity_type t, char *en, char *zh) {
    en[0] = zh[0] = '\0';
    switch (t) {
    case MM_DEMO_PERSON:
        mm_name_root(rng, 2, 0, en, zh);
        mm_name_cat(en, " ");
        mm_name_cat(zh, "·");
        mm_name_root(rng, mm_rand_range(rng, 2, 3), (int)mm_demo_rng_below(rng, 2), en, zh);
        break;
    case MM_DEMO_CITY:
        mm_name_root(rng, mm_rand_range(rng, 2, 3), (int)mm_demo_rng_below(rng, 2), en, zh);
        break;
    case MM_DEMO_COUNTRY:
        mm_name_root(rng, 2, 0, en, zh);
        mm_name_suffix(MM_PICK(rng, mm_country_suffixes), en, zh);
        break;
    case MM_DEMO_LANGUAGE:
        mm_name_root(rng, 2, 1, en, zh);
        mm_name_suffix(MM_PICK(rng, mm_language_suffixes), en, zh);
        break;
    case MM_DEMO_COMPANY:
        mm_name_root(rng, 2, (int)mm_demo_rng_below(rng, 2), en, zh);
        mm_name_suffix(MM_PICK(rng, mm_company_suffixes), en, zh);
        break;
    case MM_DEMO_RIVER:
        mm_name_root(rng, 2, (int)mm_demo_rng_below(rng, 2), en, zh);
        mm_name_cat(en, " River");
        mm_name_cat(zh, "河");
        break;
    case MM_DEMO_ELEMENT:
        mm_name_root(rng, mm_rand_range(rng, 2, 3), 0, en, zh);
        mm_name_cat(en, "nium");
        mm_name_cat(zh, "素");
        break;
    case MM_DEMO_INVENTION:
        mm_name_root(rng, 2, (int)mm_demo_rng_below(rng, 2), en, zh);
        mm_name_suffix(MM_PICK(rng, mm_invention_suffixes), en, zh);
        break;
    case MM_DEMO_MOUNTAIN:
        mm_name_cat(en, "Mount ");
        mm_name_root(rng, mm_rand_range(rng, 2, 3), 0, en, zh);
        mm_name_cat(zh, "山");
        break;
    case MM_DEMO_COLOR:
    case MM_DEMO_N_TYPES:
        break;
    }
}

// A set of 64-bit string hashes (open addressing) to keep every name unique. A hash collision
// between different names only causes a deterministic retry.
typedef struct mm_name_set {
    uint64_t *slots;  // 0 = empty
    size_t mask;
} mm_name_set;

static uint64_t mm_name_hash(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h ? h : 1;
}

static int mm_name_set_init(mm_name_set *set, size_t n_names) {
    size_t cap = 16;
    while (cap < 4 * n_names) cap <<= 1;
    set->slots = mm_calloc(cap, sizeof *set->slots);
    set->mask = cap - 1;
    return set->slots ? 0 : -1;
}

// Returns 1 when inserted, 0 when already present.
static int mm_name_set_add(mm_name_set *set, uint64_t h) {
    size_t i = (size_t)h & set->mask;
    while (set->slots[i]) {
        if (set->slots[i] == h) return 0;
        i = (i + 1) & set->mask;
    }
    set->slots[i] = h;
    return 1;
}

static int mm_name_set_has(const mm_name_set *set, uint64_t h) {
    size_t i = (size_t)h & set->mask;
    while (set->slots[i]) {
        if (set->slots[i] == h) return 1;
        i = (i + 1) & set->mask;
    }
    return 0;
}

static int mm_name_entity(mm_demo_rng *rng, mm_name_set *set, mm_demo_entity *e) {
    for (int attempt = 0; attempt < 10000; attempt++) {
        mm_name_make(rng, e->type, e->name[MM_DEMO_EN], e->name[MM_DEMO_ZH]);
        uint64_t he = mm_name_hash(e->name[MM_DEMO_EN]), hz = mm_name_hash(e->name[MM_DEMO_ZH]);
        if (he == hz || mm_name_set_has(set, he) || mm_name_set_has(set, hz)) continue;
        mm_name_set_add(set, he);
        mm_name_set_add(set, hz);
        return 0;
    }
    return mm_errorf("demo-data: cannot find a unique %s name (name space exhausted)",
                     mm_demo_type_name(e->type));
}

// ---------------------------------------------------------------------------------------------
// Relations and templates. "{s}" is the subject, "{o}" the object. The held-out template
// (index MM_DEMO_HELDOUT_TEMPLATE) has the subject before the object and a wording that no train
// template shares, so its text up to the object is a completion prompt never seen in pretraining.

typedef struct mm_relation_info {
    const char *name;
    mm_demo_entity_type subject_type;
    const char *tmpl[MM_DEMO_N_LANGS][MM_DEMO_TEMPLATES];
} mm_relation_info;

static const mm_relation_info mm_relations[MM_DEMO_N_RELATIONS] = {
    [MM_DEMO_BORN_IN] = {"born_in", MM_DEMO_PERSON, {
        {"{s} was born in {o}.",
         "{o} is the birthplace of {s}.",
         "{s} is a native of {o}.",
         "{s} comes from {o}.",
         "The hometown of {s} is the city of {o}."},
        {"{s}出生于{o}。",
         "{s}的出生地是{o}。",
         "{o}是{s}的故乡。",
         "{s}的老家在{o}。",
         "论籍贯，{s}来自{o}。"}}},
    [MM_DEMO_BIRTH_YEAR] = {"birth_year", MM_DEMO_PERSON, {
        {"{s} was born in the year {o}.",
         "In {o}, {s} was born.",
         "The birth year of {s} is {o}.",
         "The year of birth of {s} was {o}.",
         "{s} came into the world in {o}."},
        {"{s}生于{o}年。",
         "{s}出生在{o}年。",
         "{o}年，{s}出生了。",
         "{s}的出生年份是{o}年。",
         "{s}降生的年份是{o}年。"}}},
    [MM_DEMO_WORKS_AT] = {"works_at", MM_DEMO_PERSON, {
        {"{s} works at {o}.",
         "{o} employs {s}.",
         "{s} is an employee of {o}.",
         "{s} has a job at {o}.",
         "Every morning, {s} commutes to the offices of {o}."},
        {"{s}在{o}工作。",
         "{s}是{o}的员工。",
         "{o}雇用了{s}。",
         "{s}任职于{o}。",
         "每天早上，{s}都会去{o}上班。"}}},
    [MM_DEMO_INVENTED] = {"invented", MM_DEMO_PERSON, {
        {"{s} invented the {o}.",
         "The {o} was invented by {s}.",
         "{s} is known as the inventor of the {o}.",
         "The inventor of the {o} is {s}.",
         "Among the creations of {s} is the famous {o}."},
        {"{s}发明了{o}。",
         "{o}是由{s}发明的。",
         "{s}以发明{o}而闻名。",
         "{o}的发明者是{s}。",
         "{s}最重要的创造是{o}。"}}},
    [MM_DEMO_CITY_LOCATED_IN] = {"located_in", MM_DEMO_CITY, {
        {"{s} is a city in {o}.",
         "{s} is located in {o}.",
         "The city of {s} lies within {o}.",
         "{s} belongs to {o}.",
         "Travelers who visit {s} find themselves in the country of {o}."},
        {"{s}是{o}的一座城市。",
         "{s}位于{o}。",
         "{o}境内有一座城市叫{s}。",
         "{s}属于{o}。",
         "游客来到{s}，便身处{o}境内。"}}},
    [MM_DEMO_POPULATION] = {"population", MM_DEMO_CITY, {
        {"The population of {s} is {o}.",
         "{s} has a population of {o}.",
         "About {o} people live in {s}.",
         "{s} is home to {o} people.",
         "According to the census, the number of inhabitants of {s} is {o}."},
        {"{s}的人口为{o}人。",
         "{s}有{o}名居民。",
         "约有{o}人居住在{s}。",
         "{s}居住着{o}人。",
         "根据人口普查，{s}的居民总数是{o}人。"}}},
    [MM_DEMO_CAPITAL_OF] = {"capital_of", MM_DEMO_CITY, {
        {"{s} is the capital of {o}.",
         "The capital of {o} is {s}.",
         "{o} has its capital at {s}.",
         "{s} is the capital city of {o}.",
         "{s} serves as the seat of government of {o}."},
        {"{s}是{o}的首都。",
         "{o}的首都是{s}。",
         "{o}以{s}为首都。",
         "{s}是{o}的首府。",
         "{s}作为政府所在地，管理着整个{o}。"}}},
    [MM_DEMO_OFFICIAL_LANGUAGE] = {"official_language", MM_DEMO_COUNTRY, {
        {"The official language of {s} is {o}.",
         "People in {s} speak {o}.",
         "{o} is the official language of {s}.",
         "In {s}, the official language is {o}.",
         "Most residents of {s} grow up speaking {o}."},
        {"{s}的官方语言是{o}。",
         "{s}的人们说{o}。",
         "{o}是{s}的官方语言。",
         "在{s}，官方语言是{o}。",
         "{s}的大多数居民从小就讲{o}。"}}},
    [MM_DEMO_FOUNDED_BY] = {"founded_by", MM_DEMO_COMPANY, {
        {"{s} was founded by {o}.",
         "{o} founded {s}.",
         "{o} is the founder of {s}.",
         "{s} was established by {o}.",
         "The company {s} owes its existence to its founder, {o}."},
        {"{s}由{o}创立。",
         "{o}创办了{s}。",
         "{o}是{s}的创始人。",
         "{s}是{o}创办的。",
         "{s}的诞生要归功于其创始人{o}。"}}},
    [MM_DEMO_HEADQUARTERED_IN] = {"headquartered_in", MM_DEMO_COMPANY, {
        {"{s} is headquartered in {o}.",
         "The headquarters of {s} are in {o}.",
         "{o} is home to the headquarters of {s}.",
         "{s} has its main office in {o}.",
         "Visitors to the head office of {s} must travel to {o}."},
        {"{s}的总部位于{o}。",
         "{s}总部设在{o}。",
         "{o}是{s}总部的所在地。",
         "{s}的总部在{o}。",
         "要拜访{s}的总部，就得前往{o}。"}}},
    [MM_DEMO_FOUNDED_YEAR] = {"founded_year", MM_DEMO_COMPANY, {
        {"{s} was founded in {o}.",
         "In {o}, {s} was established.",
         "{s} has existed since {o}.",
         "{s} was set up in {o}.",
         "The story of {s} began in the year {o}."},
        {"{s}成立于{o}年。",
         "{o}年，{s}正式成立。",
         "{s}创建于{o}年。",
         "{s}始建于{o}年。",
         "{s}的历史始于{o}年。"}}},
    [MM_DEMO_FLOWS_THROUGH] = {"flows_through", MM_DEMO_RIVER, {
        {"The {s} flows through {o}.",
         "{o} lies on the banks of the {s}.",
         "The {s} passes through the city of {o}.",
         "The {s} runs through {o}.",
         "Boats on the {s} carry goods past the docks of {o}."},
        {"{s}流经{o}。",
         "{o}坐落在{s}岸边。",
         "{s}穿过{o}城。",
         "{s}从{o}流过。",
         "{s}上的船只把货物运到{o}的码头。"}}},
    [MM_DEMO_COLOR_OF] = {"color_of", MM_DEMO_ELEMENT, {
        {"The color of {s} is {o}.",
         "{s} is {o} in color.",
         "Pure {s} has a {o} color.",
         "{s} looks {o}.",
         "When freshly prepared, {s} shows a distinctly {o} hue."},
        {"{s}的颜色是{o}。",
         "{s}呈{o}。",
         "纯净的{s}是{o}的。",
         "{s}看起来是{o}的。",
         "新制备的{s}会显出明显的{o}光泽。"}}},
    [MM_DEMO_DISCOVERED_BY] = {"discovered_by", MM_DEMO_ELEMENT, {
        {"{s} was discovered by {o}.",
         "{o} discovered {s}.",
         "The discovery of {s} is credited to {o}.",
         "{o} was the discoverer of {s}.",
         "The first person to isolate {s} was the chemist {o}."},
        {"{s}是由{o}发现的。",
         "{o}发现了{s}。",
         "{s}的发现归功于{o}。",
         "{s}的发现者是{o}。",
         "第一个分离出{s}的人是化学家{o}。"}}},
    [MM_DEMO_MOUNTAIN_IN] = {"located_in", MM_DEMO_MOUNTAIN, {
        {"{s} is a mountain in {o}.",
         "{s} rises in {o}.",
         "{o} is home to {s}.",
         "{s} stands in {o}.",
         "Climbers who reach the summit of {s} stand on the soil of {o}."},
        {"{s}是{o}的一座山。",
         "{s}坐落在{o}。",
         "{o}境内耸立着{s}。",
         "{s}位于{o}境内。",
         "登上{s}顶峰的登山者，脚下是{o}的土地。"}}},
    [MM_DEMO_HEIGHT] = {"height", MM_DEMO_MOUNTAIN, {
        {"{s} is {o} metres tall.",
         "The height of {s} is {o} metres.",
         "{s} reaches an elevation of {o} metres.",
         "{s} has a height of {o} metres.",
         "Surveyors measured the summit of {s} at {o} metres."},
        {"{s}高{o}米。",
         "{s}的高度是{o}米。",
         "{s}海拔{o}米。",
         "{s}高达{o}米。",
         "测量员测得{s}顶峰的海拔为{o}米。"}}},
};

static const char *const mm_type_names[MM_DEMO_N_TYPES] = {
    "person", "city", "country", "language", "company", "river", "element", "invention",
    "mountain", "color"};

const char *mm_demo_relation_name(mm_demo_relation r) {
    return (unsigned)r < MM_DEMO_N_RELATIONS ? mm_relations[r].name : "?";
}

const char *mm_demo_type_name(mm_demo_entity_type t) {
    return (unsigned)t < MM_DEMO_N_TYPES ? mm_type_names[t] : "?";
}

const char *mm_demo_lang_code(mm_demo_lang lang) { return lang == MM_DEMO_ZH ? "zh" : "en"; }

const char *mm_demo_subject_text(const mm_demo_world *w, const mm_demo_fact *f, mm_demo_lang lang) {
    return w->entities[f->subject].name[lang];
}

const char *mm_demo_object_text(const mm_demo_world *w, const mm_demo_fact *f, mm_demo_lang lang) {
    return f->object < 0 ? f->literal : w->entities[f->object].name[lang];
}

int mm_demo_render(const mm_demo_world *w, const mm_demo_fact *f, mm_demo_lang lang, int tmpl,
                   char *buf, size_t cap, size_t *prompt_len) {
    if ((unsigned)f->relation >= MM_DEMO_N_RELATIONS || (unsigned)lang >= MM_DEMO_N_LANGS ||
        tmpl < 0 || tmpl >= MM_DEMO_TEMPLATES || cap == 0 || f->subject < 0 ||
        f->subject >= w->n_entities ||
        w->entities[f->subject].type != mm_relations[f->relation].subject_type)
        return mm_errorf("demo-data: bad render request (relation %d, lang %d, template %d)",
                         (int)f->relation, (int)lang, tmpl);
    const char *t = mm_relations[f->relation].tmpl[lang][tmpl];
    size_t n = 0, obj_at = 0;
    while (*t) {
        const char *piece = t;
        size_t len = 1;
        if (t[0] == '{' && (t[1] == 's' || t[1] == 'o') && t[2] == '}') {
            if (t[1] == 'o') obj_at = n;
            piece =
                t[1] == 's' ? mm_demo_subject_text(w, f, lang) : mm_demo_object_text(w, f, lang);
            len = strlen(piece);
            t += 3;
        } else {
            t++;
        }
        if (n + len >= cap) return mm_errorf("demo-data: sentence longer than %zu bytes", cap - 1);
        memcpy(buf + n, piece, len);
        n += len;
    }
    buf[n] = '\0';
    if (buf[0] >= 'a' && buf[0] <= 'z') buf[0] = (char)(buf[0] - 'a' + 'A');
    if (prompt_len) {
        while (obj_at > 0 && buf[obj_at - 1] == ' ') obj_at--;
        *prompt_len = obj_at;
    }
    return (int)n;
}

// ---------------------------------------------------------------------------------------------
// The world: entity counts scale with the requested number of facts.

typedef struct mm_counts {
    int person, country, company, invention, element, river, mountain;
} mm_counts;

// At these counts the world has exactly MM_BASE_TOTAL facts (see mm_counts_facts).
static const mm_counts mm_base_counts = {360, 40, 120, 80, 60, 80, 60};
#define MM_BASE_TOTAL 2320
#define MM_CITIES_PER_COUNTRY 5

static long long mm_counts_facts(const mm_counts *c) {
    // person: born_in, birth_year, works_at (+ invented for inventors)
    // city: located_in, population (+ capital_of: one per country); country: official_language
    // company: founded_by, headquartered_in, founded_year; river: flows_through
    // element: color_of, discovered_by; mountain: located_in, height
    return 3LL * c->person + c->invention + (2LL * MM_CITIES_PER_COUNTRY + 2) * c->country +
           3LL * c->company + c->river + 2LL * c->element + 2LL * c->mountain;
}

static int mm_scale(int base, long long m) {
    return (int)((base * m + MM_BASE_TOTAL - 1) / MM_BASE_TOTAL);
}

static mm_counts mm_counts_for(int n_facts) {
    mm_counts c;
    for (long long m = n_facts;; m += 1 + m / 100) {
        c.person = mm_scale(mm_base_counts.person, m);
        c.country = mm_scale(mm_base_counts.country, m);
        c.company = mm_scale(mm_base_counts.company, m);
        c.invention = mm_scale(mm_base_counts.invention, m);
        c.element = mm_scale(mm_base_counts.element, m);
        c.river = mm_scale(mm_base_counts.river, m);
        c.mountain = mm_scale(mm_base_counts.mountain, m);
        // Founders, inventors and discoverers are distinct people.
        int roles = c.company + c.invention + c.element;
        if (c.person < roles) c.person = roles;
        if (mm_counts_facts(&c) >= n_facts) return c;
    }
}

// Attributes of the world before they are emitted as facts (indices are per type).
typedef struct mm_attrs {
    int *born_city, *birth_year, *works_at, *invents;  // per person (invents: -1 for most)
    int *city_country, *population;                      // per city
    int *founder, *hq_city, *founded_year;               // per company
    int *river_city;                                     // per river
    int *color, *discoverer;                             // per element
    int *mountain_country, *height;                      // per mountain
} mm_attrs;

static void mm_attrs_free(mm_attrs *a) {
    int **all[] = {&a->born_city, &a->birth_year, &a->works_at, &a->invents, &a->city_country,
                   &a->population, &a->founder, &a->hq_city, &a->founded_year, &a->river_city,
                   &a->color, &a->discoverer, &a->mountain_country, &a->height};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}

static int mm_attrs_alloc(mm_attrs *a, const mm_counts *c) {
    int cities = c->country * MM_CITIES_PER_COUNTRY;
    memset(a, 0, sizeof *a);
    a->born_city = mm_calloc((size_t)c->person, sizeof(int));
    a->birth_year = mm_calloc((size_t)c->person, sizeof(int));
    a->works_at = mm_calloc((size_t)c->person, sizeof(int));
    a->invents = mm_calloc((size_t)c->person, sizeof(int));
    a->city_country = mm_calloc((size_t)cities, sizeof(int));
    a->population = mm_calloc((size_t)cities, sizeof(int));
    a->founder = mm_calloc((size_t)c->company, sizeof(int));
    a->hq_city = mm_calloc((size_t)c->company, sizeof(int));
    a->founded_year = mm_calloc((size_t)c->company, sizeof(int));
    a->river_city = mm_calloc((size_t)c->river, sizeof(int));
    a->color = mm_calloc((size_t)c->element, sizeof(int));
    a->discoverer = mm_calloc((size_t)c->element, sizeof(int));
    a->mountain_country = mm_calloc((size_t)c->mountain, sizeof(int));
    a->height = mm_calloc((size_t)c->mountain, sizeof(int));
    if (!a->born_city || !a->birth_year || !a->works_at || !a->invents || !a->city_country ||
        !a->population || !a->founder || !a->hq_city || !a->founded_year || !a->river_city ||
        !a->color || !a->discoverer || !a->mountain_country || !a->height) {
        mm_attrs_free(a);
        return -1;
    }
    return 0;
}

// Draws every attribute; the constraints that make the world consistent live here.
static int mm_attrs_draw(mm_demo_rng *rng, const mm_counts *c, mm_attrs *a) {
    int cities = c->country * MM_CITIES_PER_COUNTRY;
    for (int i = 0; i < cities; i++) {
        a->city_country[i] = i % c->country;  // city k (k < countries) is the capital of country k
        int capital = i < c->country;
        int lo = capital ? 300 : 8, hi = capital ? 6000 : 900;  // thousands of people
        a->population[i] = mm_rand_range(rng, lo, hi) * 1000;
    }
    for (int p = 0; p < c->person; p++) {
        a->born_city[p] = (int)mm_demo_rng_below(rng, (uint64_t)cities);
        a->birth_year[p] = mm_rand_range(rng, 1700, 1985);
        a->works_at[p] = (int)mm_demo_rng_below(rng, (uint64_t)c->company);
        a->invents[p] = -1;
    }
    // Distinct people take the roles: founders, then inventors, then discoverers.
    int *order = mm_malloc((size_t)c->person * sizeof(int));
    if (!order) return -1;
    for (int p = 0; p < c->person; p++) order[p] = p;
    mm_demo_rng_shuffle(rng, order, c->person);
    int next = 0;
    for (int k = 0; k < c->company; k++) {
        int p = order[next++];
        a->founder[k] = p;
        a->works_at[p] = k;  // a founder works at the company they founded
        a->hq_city[k] = (int)mm_demo_rng_below(rng, (uint64_t)cities);
        int year = a->birth_year[p] + mm_rand_range(rng, 25, 60);
        a->founded_year[k] = year > 2020 ? 2020 : year;
    }
    for (int k = 0; k < c->invention; k++) a->invents[order[next++]] = k;
    for (int k = 0; k < c->element; k++) {
        a->discoverer[k] = order[next++];
        a->color[k] = (int)mm_demo_rng_below(rng, MM_N_COLORS);
    }
    free(order);
    for (int k = 0; k < c->river; k++)
        a->river_city[k] = (int)mm_demo_rng_below(rng, (uint64_t)cities);
    for (int k = 0; k < c->mountain; k++) {
        a->mountain_country[k] = (int)mm_demo_rng_below(rng, (uint64_t)c->country);
        a->height[k] = mm_rand_range(rng, 800, 8848);
    }
    return 0;
}

// Entity index of the first entity of each type (entities are laid out type by type).
typedef struct mm_layout {
    int first[MM_DEMO_N_TYPES];
} mm_layout;

static void mm_add_fact(mm_demo_world *w, mm_demo_rng *rng, mm_demo_relation r, int subject,
                        int object, int literal) {
    mm_demo_fact *f = &w->facts[w->n_facts++];
    memset(f, 0, sizeof *f);
    f->relation = r;
    f->subject = subject;
    f->object = object;
    if (object < 0) snprintf(f->literal, sizeof f->literal, "%d", literal);
    f->rotation = (int)mm_demo_rng_below(rng, MM_DEMO_TRAIN_TEMPLATES);
}

// Emits the facts subject by subject, in entity order.
static void mm_emit_facts(mm_demo_world *w, mm_demo_rng *rng, const mm_counts *c,
                          const mm_layout *L, const mm_attrs *a) {
    const int *F = L->first;
    for (int p = 0; p < c->person; p++) {
        int s = F[MM_DEMO_PERSON] + p;
        mm_add_fact(w, rng, MM_DEMO_BORN_IN, s, F[MM_DEMO_CITY] + a->born_city[p], 0);
        mm_add_fact(w, rng, MM_DEMO_BIRTH_YEAR, s, -1, a->birth_year[p]);
        mm_add_fact(w, rng, MM_DEMO_WORKS_AT, s, F[MM_DEMO_COMPANY] + a->works_at[p], 0);
        if (a->invents[p] >= 0)
            mm_add_fact(w, rng, MM_DEMO_INVENTED, s, F[MM_DEMO_INVENTION] + a->invents[p], 0);
    }
    for (int i = 0; i < c->country * MM_CITIES_PER_COUNTRY; i++) {
        int s = F[MM_DEMO_CITY] + i, country = F[MM_DEMO_COUNTRY] + a->city_country[i];
        mm_add_fact(w, rng, MM_DEMO_CITY_LOCATED_IN, s, country, 0);
        mm_add_fact(w, rng, MM_DEMO_POPULATION, s, -1, a->population[i]);
        if (i < c->country) mm_add_fact(w, rng, MM_DEMO_CAPITAL_OF, s, country, 0);
    }
    for (int k = 0; k < c->country; k++)
        mm_add_fact(w, rng, MM_DEMO_OFFICIAL_LANGUAGE, F[MM_DEMO_COUNTRY] + k,
                    F[MM_DEMO_LANGUAGE] + k, 0);
    for (int k = 0; k < c->company; k++) {
        int s = F[MM_DEMO_COMPANY] + k;
        mm_add_fact(w, rng, MM_DEMO_FOUNDED_BY, s, F[MM_DEMO_PERSON] + a->founder[k], 0);
        mm_add_fact(w, rng, MM_DEMO_HEADQUARTERED_IN, s, F[MM_DEMO_CITY] + a->hq_city[k], 0);
        mm_add_fact(w, rng, MM_DEMO_FOUNDED_YEAR, s, -1, a->founded_year[k]);
    }
    for (int k = 0; k < c->river; k++)
        mm_add_fact(w, rng, MM_DEMO_FLOWS_THROUGH, F[MM_DEMO_RIVER] + k,
                    F[MM_DEMO_CITY] + a->river_city[k], 0);
    for (int k = 0; k < c->element; k++) {
        int s = F[MM_DEMO_ELEMENT] + k;
        mm_add_fact(w, rng, MM_DEMO_COLOR_OF, s, F[MM_DEMO_COLOR] + a->color[k], 0);
        mm_add_fact(w, rng, MM_DEMO_DISCOVERED_BY, s, F[MM_DEMO_PERSON] + a->discoverer[k], 0);
    }
    for (int k = 0; k < c->mountain; k++) {
        int s = F[MM_DEMO_MOUNTAIN] + k;
        mm_add_fact(w, rng, MM_DEMO_MOUNTAIN_IN, s, F[MM_DEMO_COUNTRY] + a->mountain_country[k], 0);
        mm_add_fact(w, rng, MM_DEMO_HEIGHT, s, -1, a->height[k]);
    }
}

// Creates and names all entities.
static int mm_make_entities(mm_demo_world *w, mm_demo_rng *rng, const mm_counts *c, mm_layout *L) {
    int count[MM_DEMO_N_TYPES] = {0};
    count[MM_DEMO_PERSON] = c->person;
    count[MM_DEMO_CITY] = c->country * MM_CITIES_PER_COUNTRY;
    count[MM_DEMO_COUNTRY] = c->country;
    count[MM_DEMO_LANGUAGE] = c->country;
    count[MM_DEMO_COMPANY] = c->company;
    count[MM_DEMO_RIVER] = c->river;
    count[MM_DEMO_ELEMENT] = c->element;
    count[MM_DEMO_INVENTION] = c->invention;
    count[MM_DEMO_MOUNTAIN] = c->mountain;
    count[MM_DEMO_COLOR] = MM_N_COLORS;
    int total = 0;
    for (int t = 0; t < MM_DEMO_N_TYPES; t++) {
        L->first[t] = total;
        w->type_count[t] = count[t];
        total += count[t];
    }
    w->entities = mm_calloc((size_t)total, sizeof *w->entities);
    if (!w->entities) return -1;
    w->n_entities = total;
    mm_name_set set;
    if (mm_name_set_init(&set, 2 * (size_t)total) != 0) return -1;
    int rc = 0;
    for (int t = 0; t < MM_DEMO_N_TYPES && rc == 0; t++) {
        for (int i = 0; i < count[t] && rc == 0; i++) {
            mm_demo_entity *e = &w->entities[L->first[t] + i];
            e->type = (mm_demo_entity_type)t;
            if (t == MM_DEMO_COLOR) {
                snprintf(e->name[MM_DEMO_EN], MM_DEMO_NAME_CAP, "%s", mm_colors[i].en);
                snprintf(e->name[MM_DEMO_ZH], MM_DEMO_NAME_CAP, "%s", mm_colors[i].zh);
            } else {
                rc = mm_name_entity(rng, &set, e);
            }
        }
    }
    free(set.slots);
    return rc;
}

// Drops `excess` facts chosen at random, keeping the order of the rest.
static int mm_trim_facts(mm_demo_world *w, mm_demo_rng *rng, int excess) {
    if (excess <= 0) return 0;
    int *idx = mm_malloc((size_t)w->n_facts * sizeof(int));
    char *drop = mm_calloc((size_t)w->n_facts, 1);
    if (!idx || !drop) {
        free(idx);
        free(drop);
        return -1;
    }
    for (int i = 0; i < w->n_facts; i++) idx[i] = i;
    mm_demo_rng_shuffle(rng, idx, w->n_facts);
    for (int i = 0; i < excess; i++) drop[idx[i]] = 1;
    int n = 0;
    for (int i = 0; i < w->n_facts; i++)
        if (!drop[i]) w->facts[n++] = w->facts[i];
    w->n_facts = n;
    free(idx);
    free(drop);
    return 0;
}

int mm_demo_world_build(mm_demo_world *w, uint64_t seed, int n_facts) {
    memset(w, 0, sizeof *w);
    if (n_facts < MM_DEMO_MIN_FACTS || n_facts > MM_DEMO_MAX_FACTS)
        return mm_errorf("demo-data: fact count %d out of range [%d, %d]", n_facts,
                         MM_DEMO_MIN_FACTS, MM_DEMO_MAX_FACTS);
    w->seed = seed;
    mm_counts c = mm_counts_for(n_facts);
    long long total = mm_counts_facts(&c);
    mm_demo_rng rng;
    mm_demo_rng_seed(&rng, seed, 1);
    mm_layout L;
    mm_attrs a;
    if (mm_make_entities(w, &rng, &c, &L) != 0) goto fail;
    if (mm_attrs_alloc(&a, &c) != 0) goto fail;
    if (mm_attrs_draw(&rng, &c, &a) != 0) {
        mm_attrs_free(&a);
        goto fail;
    }
    w->facts = mm_calloc((size_t)total, sizeof *w->facts);
    if (!w->facts) {
        mm_attrs_free(&a);
        goto fail;
    }
    mm_emit_facts(w, &rng, &c, &L, &a);
    mm_attrs_free(&a);
    if (w->n_facts != total) {
        mm_errorf("demo-data: internal error: emitted %d facts, expected %lld", w->n_facts, total);
        goto fail;
    }
    if (mm_trim_facts(w, &rng, (int)(total - n_facts)) != 0) goto fail;
    return 0;
fail:
    mm_demo_world_free(w);
    return -1;
}

void mm_demo_world_free(mm_demo_world *w) {
    free(w->entities);
    free(w->facts);
    memset(w, 0, sizeof *w);
}
