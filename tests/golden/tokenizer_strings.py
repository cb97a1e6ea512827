"""Hand-picked tokenizer parity strings and a seeded generator over Unicode blocks.

Shared by tokenizer_parity.py. The hand-picked list covers the cases where byte-level BPE
tokenizers usually go wrong: scripts without spaces, combining marks (NFC), emoji sequences,
digits, whitespace runs and line breaks, contractions in any case, full-width forms, and
special tokens inside text. The generator draws from Unicode blocks and a list of characters
on which regex engines disagree (Oniguruma, which HF tokenizers uses, versus PCRE2/ICU/re):
U+0085, U+00A0, U+180E, U+200B, U+2028, U+3000, ½ ² ①, long s, Kelvin sign.
"""
import random
import unicodedata

HAND_PICKED = [
    # English, punctuation, contractions in every case
    "Hello, world!", "hello world", "Hello  world", " leading space", "trailing space ",
    "it's", "It'S", "IT'S", "they're", "THEY'RE", "we've", "We'Ve", "I'm", "I'M", "you'll",
    "YOU'LL", "he'd", "HE'D", "don't", "DON'T", "can't stop", "'s", "'S", "''s", "'sss",
    "it’s curly", "IT’S CURLY", "rock ’n’ roll", "the dog's bone's", "x'sy", "a 'quoted' word",
    "ſ 'ſ long s", "K Kelvin", "İstanbul ıi", "Straße STRASSE ß ẞ",
    # digits
    "0", "12", "123", "1234567890", "3.14159", "1,000,000", "v1.2.3-rc4", "2024-01-31T12:34:56Z",
    "½ ¼ ¾", "x² + y³ = z²", "① ② ③ ⑩ ⑳", "٠١٢٣٤٥٦٧٨٩", "१२३ ४५६", "๑๒๓", "１２３ full width",
    "Ⅻ roman", "𝟘𝟙𝟚 math digits", "0x1F600", "1e-9", "-42", "+7", "99%",
    # whitespace runs and line breaks
    "a\tb", "\t\tindent", "a\nb", "a\n\nb", "a\r\nb", "line1\r\nline2\r\n", "\r\n\r\n", "\n",
    "\n\n\n", " \n ", "  \n  ", "a  b   c    d", "     ", "\t \t", "end\n", "x\u000by\u000cz",
    "a\u0085b", "a\u00a0b", "a\u180eb", "a\u200bb", "a\u2028b", "a\u2029b", "a\u3000b",
    "\u3000\u3000全角空格", "a\u2003em\u2009thin", "\u00a0\u00a0nbsp", " \u0085 ", "\u180e\u180e",
    "\u200b\u200b", "tab\tand  spaces\t ", "mixed \r\n\t endings\n\r",
    # code
    "def foo(x):\n    return x + 1\n", "int main() {\r\n\treturn 0;\r\n}\r\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }", "if x == 1:\n\tpass", "#include <stdio.h>",
    "const f = (a, b) => a ?? b;", "SELECT * FROM t WHERE id = 42;", "<div class=\"x\">hi</div>",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}", "x=>y||z&&!w", "path/to/file.txt",
    "C:\\Windows\\System32", "https://example.com/a?b=c&d=e#f", "user@example.com",
    "    four spaces", "        eight spaces", "\t\t\ttabs", "a->b", "::std::vector<int>",
    "```python\nprint('hi')\n```", "$ ls -la | grep foo", "// comment\n/* block */",
    # Chinese, Japanese, Korean
    "你好", "你好，世界！", "我爱自然语言处理。", "今天天气很好，我们去公园吧。", "中文English混合123",
    "繁體中文測試", "「引号」『书名』", "こんにちは", "日本語のテキストです。", "カタカナとひらがな",
    "ｶﾀｶﾅ半角", "東京タワー", "안녕하세요", "한국어 텍스트입니다.", "한글 ㄱㄴㄷ ㅏㅑ", "韓國語 한자",
    # Arabic, Hebrew, Devanagari, Thai, others
    "مرحبا بالعالم", "السلام عليكم ورحمة الله", "العربية ١٢٣", "שלום עולם", "नमस्ते दुनिया",
    "हिन्दी भाषा", "क्षत्रिय", "สวัสดีครับ", "ภาษาไทยไม่มีช่องว่าง", "Привет, мир!", "ΓΕΙΑ σου κόσμε",
    "Ελληνικά", "Հայերեն", "ქართული", "አማርኛ", "தமிழ்", "తెలుగు", "ខ្មែរ", "ລາວ", "မြန်မာ",
    "Tiếng Việt có dấu", "Türkçe ğüşöç", "Čeština ěščřžýáíé", "Ærøskøbing", "Þórr",
    # combining marks and NFC
    "e\u0301", "cafe\u0301", "n\u0303o", "A\u030a", "\u1100\u1161\u11a8", "o\u0308\u0304",
    "a\u0328\u0301", "\u0915\u093c", "Å Å", "ﬁ ligature", "ḱṷṓn", "q\u0307\u0323",
    "\u0041\u0300\u0041\u0301", "ê̄", "\u05d1\u05bc", "Zalgo z̷̢̛a̸l̴g̵o̶",
    # emoji
    "😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪🇯🇵", "❤️", "☺︎", "1️⃣", "🧑🏿‍🚀", "I ❤ NY",
    "emoji😀inside", "👩‍💻 coding", "🤷‍♀️🤷‍♂️", "🫠 new", "✅ done ❌ fail",
    # full-width forms and symbols
    "ＡＢＣ ａｂｃ", "！？（）", "＠＃＄％", "ｈｅｌｌｏ　ｗｏｒｌｄ", "→ ← ↑ ↓", "∀x∈ℝ: x²≥0", "≠≤≥±∞",
    "©®™", "€£¥₹", "§¶†‡", "“double” ‘single’", "— – -", "…", "•·‧", "▲▼◆", "♠♥♦♣",
    "░▒▓█", "┌─┐│└┘", "ℌ𝔢𝔩𝔩𝔬", "𝐁𝐨𝐥𝐝", "Ω ohm Ω", "µ micro μ",
    # special tokens in text
    "<|im_start|>user\nhi<|im_end|>\n", "text<|endoftext|>more", "<|im_end|>", "<|im_end|><|im_end|>",
    "<|im_start|>", "<|im_start|", "<|im_end| >", "<think>\nreason\n</think>\n\nanswer",
    "<tool_call>\n{\"name\": \"f\"}\n</tool_call>", "a<|endoftext|>b<|im_start|>c", "<<|im_end|>>",
    "<|fim_prefix|>def<|fim_suffix|>x<|fim_middle|>", "< |im_end|>", "<|IM_END|>",
    "<|vision_start|><|image_pad|><|vision_end|>", " <|im_end|> ", "\n<|im_end|>\n",
    # mixed and edge cases
    "", " ", "a", "A", "?", "'", "''", "\"", "\\", "\u00ff", "\u0100", "\u07ff", "\u0800", "\uffff",
    "\U0001f600", "\U0010fffd", "\ufeffBOM", "\ufffd replacement", "a\u0000b", "\u0001\u0002\u001f",
    "\u007f del", "soft\u00adhyphen", "zero\u200dwidth\u200cjoiner", "\u202eRTL override",
    "word" * 50, " " * 100, "\n" * 20, "ab" * 300, "1" * 64, "😀" * 30, "你" * 80,
]

# Code point ranges (inclusive) the generator draws from.
BLOCKS = [
    (0x20, 0x7E), (0xA0, 0xFF), (0x100, 0x17F), (0x180, 0x24F), (0x250, 0x2AF), (0x300, 0x36F),
    (0x370, 0x3FF), (0x400, 0x4FF), (0x530, 0x58F), (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F),
    (0x980, 0x9FF), (0xE00, 0xE7F), (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1800, 0x18AF),
    (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x2070, 0x209F), (0x20A0, 0x20CF), (0x2100, 0x214F),
    (0x2150, 0x218F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2460, 0x24FF), (0x2500, 0x257F),
    (0x2600, 0x26FF), (0x2700, 0x27BF), (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF),
    (0x3130, 0x318F), (0x3200, 0x32FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF),
    (0xFE00, 0xFE0F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F),
    (0x1F900, 0x1F9FF), (0x20000, 0x2A6DF),
]
ENGINE_DIFFERENCES = ["\u0085", "\u00a0", "\u180e", "\u200b", "\u2028", "\u2029", "\u3000", "½", "²",
                      "①", "ſ", "\u212a", "\u1680", "\u202f", "\u205f", "\u000b", "\u000c", "\u00b5",
                      "\u2160", "\u3007", "\u00aa", "\u02b0"]
FRAGMENTS = ["'s", "'S", "'ll", "'RE", "'d", "’s", " ", "  ", "\t", "\n", "\r\n", "\r", " \n", "<|im_end|>",
             "<|im_start|>", "<|endoftext|>", "<think>", "123", "0", "the", " The", "e\u0301", "👨‍👩‍👧",
             "🇺🇸", "️", "\u200d", "...", "--", "__", "==", "//", "#", "@", "$", "%", "&", "*"]


def assigned(cp):
    """Whether cp is assigned in Python's Unicode database (Unicode 14 for Python 3.11): characters
    assigned later would compare engines' Unicode versions, not their behaviour."""
    ch = chr(cp)
    return unicodedata.category(ch) not in ("Cn", "Cs", "Co")


def random_char(rng):
    for _ in range(100):
        lo, hi = rng.choice(BLOCKS)
        cp = rng.randint(lo, hi)
        if assigned(cp):
            return chr(cp)
    return "x"


def generated_strings(count, seed):
    """`count` strings from a seeded random mix of block characters, engine-difference
    characters and fragments; deterministic for a seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 24)):
            r = rng.random()
            if r < 0.55:
                parts.append("".join(random_char(rng) for _ in range(rng.randint(1, 6))))
            elif r < 0.75:
                parts.append(rng.choice(ENGINE_DIFFERENCES) * rng.randint(1, 3))
            else:
                parts.append(rng.choice(FRAGMENTS))
        out.append("".join(parts))
    return out
