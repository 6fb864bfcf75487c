"""Text in any script: unspaced scripts and emoji become tokens, symbols go, English stays.

The rule is in `mmzoo/preprocessing/vocabulary.py`'s module docstring.
"""

import io
import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmzoo.preprocessing.text import (
    TextTokenizer,
    empty_after_standardization,
    learn_wordpiece_vocabulary,
    standardize_text,
)

ZWJ, VS16 = "\u200d", "\ufe0f"


def standardized(texts):
    return [t.decode() for t in standardize_text(tf.constant(texts)).numpy()]


def old_standardize_text(texts):
    """The standardization before scripts and emoji were handled (frozen reference)."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, r"[\p{P}\p{S}]", "")
    texts = tf.strings.regex_replace(texts, r"\s+", " ")
    return tf.strings.strip(texts)


@pytest.mark.parametrize(
    "text, expected",
    [
        # Chinese, Japanese: one token per character; CJK punctuation goes.
        ("我爱北京天安门。", "我 爱 北 京 天 安 门"),
        ("今日は、いい天気ですね！コーヒー", "今 日 は い い 天 気 で す ね コ ー ヒ ー"),
        ("東京\u3000タワー", "東 京 タ ワ ー"),  # the ideographic space is a space
        ("か\u3099", "か\u3099"),  # a combining dakuten stays with its kana
        ("2024年3月", "2024 年 3 月"),
        # Thai and Lao: a letter with its vowel and tone marks; leading vowels alone.
        ("สวัสดีครับ", "ส วั ส ดี ค รั บ"),
        ("แมวกินปลา", "แ ม ว กิ น ป ล า"),
        ("ສະບາຍດີ", "ສ ະ ບ າ ຍ ດີ"),
        # Khmer and Myanmar: a stacked consonant stays with the one above it.
        ("ខ្ញុំ", "ខ្ញុំ"),
        ("မြန်မာ", "မြ န် မာ"),
        ("ខ្ញុំ\u200bទៅ", "ខ្ញុំ ទៅ"),  # the zero-width space is a space
        # Korean is written with spaces: words stay words.
        ("안녕하세요, 세계!", "안녕하세요 세계"),
        # Mixed scripts.
        ("I love 北京 🍜!", "i love 北 京 🍜"),
        ("Tokyo東京2020", "tokyo 東 京 2020"),
        # Emoji: one token each; the emoji variation selector goes; flags stay whole.
        ("👍👍", "👍 👍"),
        ("👎", "👎"),
        ("great👍!!", "great 👍"),
        ("❤" + VS16, "❤"),
        ("👍🏽", "👍 🏽"),  # skin tone: a token of its own after the base emoji
        ("👨" + ZWJ + "👩" + ZWJ + "👧", "👨 👩 👧"),  # a ZWJ sequence: its parts
        ("🏳" + VS16 + ZWJ + "🌈", "🏳 🌈"),
        ("👩🏽" + ZWJ + "💻", "👩 🏽 💻"),
        ("🇯🇵🇫🇷", "🇯🇵 🇫🇷"),
        ("⭐✅☕⌛", "⭐ ✅ ☕ ⌛"),
        ("1" + VS16 + "\u20e3 go", "1 go"),  # a keycap is its digit
        # Other symbols and punctuation go, without a space in their place.
        ("+++", ""),
        ("$5 © 2024 ™ → ■ a+b=c", "5 2024 abc"),
        ("don't", "dont"),
        ("  Hello,   WORLD!! ", "hello world"),
        ("Ça—va? «Oui»", "çava oui"),
    ],
)
def test_standardize_text_scripts(text, expected):
    assert standardized([text]) == [expected]


def test_other_scripts_standardize_as_before():
    # Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari (with a ZWJ inside a word),
    # Hangul, tabs and newlines: identical to the old rule, so learned vocabularies
    # keep their ids.
    texts = [
        "  Hello,   WORLD!! ",
        "Ça—va? «Oui» l'été, naïve café.",
        "a+b=c $5 100% (maybe) [x] {y} #tag @user",
        "Привет, мир! Как дела?",
        "Γειά σου Κόσμε; Τι κάνεις;",
        "مرحبا بالعالم، كيف حالك؟",
        "שלום עולם!",
        "नमस्ते दुनिया। क्\u200dष",
        "안녕하세요, 세계!",
        "tabs\tand\nnew lines\r\n  here",
        "",
        "!!!",
        "ÀÉÎÕÜ ẞ İstanbul",
    ]
    new = standardize_text(tf.constant(texts)).numpy().tolist()
    old = old_standardize_text(tf.constant(texts)).numpy().tolist()
    assert new == old


def test_english_ids_unchanged():
    # A vocabulary saved before: the same ids for the same English texts.
    tokenizer = TextTokenizer(
        sequence_length=6, vocabulary=["the", "cat", "sat", "on", "mat", "dont"]
    )
    ids = tokenizer(["The cat sat on the mat.", "Don't! The CAT...", "a+b"]).numpy()
    assert ids.tolist() == [[2, 3, 4, 5, 2, 6], [7, 2, 3, 0, 0, 0], [1, 0, 0, 0, 0, 0]]


# --- adapting on each script, every tokenizer kind ----------------------------------

CHINESE = [
    "我喜欢北京的天气",
    "一只小猫在公园里睡觉",
    "红色的车停在房子前面",
    "他每天早上喝一杯茶",
    "我们明天去上海看朋友",
    "这本书很有意思",
    "小狗在床上睡觉",
    "妈妈做的饭很好吃",
    "今天下雨了很冷",
    "学生们在学校学习中文",
    "一条大鱼在水里游",
    "她喜欢吃苹果和香蕉",
    "爸爸开车去公司",
    "这个房子很大很漂亮",
    "晚上我们一起看电影",
    "老师在教室里写字",
    "春天的花开了",
    "他们在山上跑步",
    "我的朋友住在北京",
    "天气很好我们去公园",
]
CHINESE_UNSEEN = "小猫喜欢喝茶"  # seen characters, a sentence not in CHINESE

JAPANESE = [
    "猫が魚を食べる",
    "犬が公園を走る",
    "私は東京に住んでいます",
    "コーヒーを飲みます",
    "今日はいい天気です",
    "赤い車が止まっている",
    "子供が学校へ行く",
    "母はケーキを作った",
    "雨が降っています",
    "友達と映画を見ました",
    "桜の花がきれいです",
    "電車で会社に行きます",
    "本を読むのが好きです",
    "山に登りました",
    "海で泳ぎたい",
    "パンと牛乳を買った",
    "先生が話している",
    "夜はとても静かです",
    "新しいカメラが欲しい",
    "駅の前で待っています",
]
JAPANESE_UNSEEN = "犬がコーヒーを飲む"

THAI = [
    "แมวกินปลา",
    "หมาวิ่งในสวน",
    "ฉันชอบกินข้าว",
    "วันนี้อากาศดี",
    "รถสีแดงจอดอยู่หน้าบ้าน",
    "เด็กไปโรงเรียน",
    "แม่ทำอาหารอร่อย",
    "ฝนตกทั้งวัน",
    "เราดูหนังด้วยกัน",
    "ดอกไม้สวยมาก",
    "พ่อขับรถไปทำงาน",
    "บ้านหลังนี้ใหญ่",
    "ฉันอ่านหนังสือ",
    "นกบินบนฟ้า",
    "น้ำในแม่น้ำเย็น",
    "เขาดื่มกาแฟทุกเช้า",
    "ครูสอนภาษาไทย",
    "ทะเลสีฟ้า",
    "แมวนอนบนเตียง",
    "เพื่อนมาเยี่ยมบ้าน",
]
THAI_UNSEEN = "หมากินข้าวในบ้าน"

EMOJI = ["👍👍", "👎", "great 👍", "bad 👎👎", "I love 北京 🍜!", "ramen 🍜 👍🏽", "+++"]
SCRIPT_CORPUS = CHINESE + JAPANESE + THAI + EMOJI
UNSEEN = {"chinese": CHINESE_UNSEEN, "japanese": JAPANESE_UNSEEN, "thai": THAI_UNSEEN}
LENGTH = 24


@pytest.fixture(scope="module")
def script_tokenizers():
    """One tokenizer of each kind, learned on SCRIPT_CORPUS."""
    vectorization = TextTokenizer(sequence_length=LENGTH)
    vectorization.adapt(SCRIPT_CORPUS)
    wordpiece = TextTokenizer(kind="wordpiece", sequence_length=LENGTH, max_tokens=400)
    wordpiece.adapt(SCRIPT_CORPUS)
    tokenizers = {"vectorization": vectorization, "wordpiece": wordpiece}
    try:
        import sentencepiece as spm
    except ImportError:
        return tokenizers
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(standardized(SCRIPT_CORPUS)),
        model_writer=model,
        vocab_size=300,
        hard_vocab_limit=False,
        character_coverage=1.0,  # keep every character: the corpus is tiny
        minloglevel=2,
    )
    tokenizers["sentencepiece"] = TextTokenizer(
        kind="sentencepiece", sequence_length=LENGTH, sentencepiece_model=model.getvalue()
    )
    return tokenizers


@pytest.fixture(params=["vectorization", "wordpiece", "sentencepiece"])
def script_tokenizer(request, script_tokenizers):
    if request.param not in script_tokenizers:
        pytest.skip("the `sentencepiece` package (test-only dependency) is not installed")
    return script_tokenizers[request.param]


def tokens(tokenizer, text):
    vocabulary = tokenizer.get_vocabulary()
    return [vocabulary[i] for i in tokenizer(text).numpy() if i != 0]


@pytest.mark.parametrize("script", ["chinese", "japanese", "thai"])
def test_unseen_sentence_of_seen_characters_is_known(script_tokenizer, script):
    unseen = UNSEEN[script]
    assert unseen not in SCRIPT_CORPUS
    ids = script_tokenizer(unseen).numpy()
    assert 1 not in ids.tolist()  # no [UNK]
    assert np.count_nonzero(ids) >= 3
    if script_tokenizer.kind == "vectorization":
        # Exactly one token per character (with its marks), each the learned one.
        assert tokens(script_tokenizer, unseen) == standardized([unseen])[0].split(" ")


def test_unseen_sentence_vectorization_ids():
    tokenizer = TextTokenizer(sequence_length=10)
    tokenizer.adapt(CHINESE)
    vocabulary = tokenizer.get_vocabulary()
    expected = [vocabulary.index(c) for c in CHINESE_UNSEEN]
    assert tokenizer(CHINESE_UNSEEN).numpy().tolist() == expected + [0] * (10 - len(expected))
    # Before, the whole sentence was one token, and an unseen one was [UNK].
    assert len(set(expected)) == len(set(CHINESE_UNSEEN)) and min(expected) > 1


def test_mixed_script_caption(script_tokenizers):
    tokenizer = script_tokenizers["vectorization"]
    assert tokens(tokenizer, "I love 北京 🍜!") == ["i", "love", "北", "京", "🍜"]
    assert tokens(tokenizer, "北京, I love 🍜🍜") == ["北", "京", "i", "love", "🍜", "🍜"]


def test_emoji_only_captions(script_tokenizer):
    up, up_up, down, plus = script_tokenizer(["👍", "👍👍", "👎", "+++"]).numpy()
    assert up[0] > 1 and down[0] > 1 and up[0] != down[0]  # known, distinct tokens
    assert np.count_nonzero(up_up) == 2 * np.count_nonzero(up)
    assert not np.array_equal(up_up, down)
    assert np.count_nonzero(plus) == 0  # symbols only: padding only
    # The emoji variation selector changes nothing; a skin tone follows the base emoji.
    np.testing.assert_array_equal(script_tokenizer("👍" + VS16), up)
    toned = script_tokenizer("👍🏽").numpy()
    assert toned[0] == up[0] and np.count_nonzero(toned) > np.count_nonzero(up)


def test_emoji_ids_after_adapt(script_tokenizers):
    tokenizer = script_tokenizers["vectorization"]
    vocabulary = tokenizer.get_vocabulary()
    up, down, tone = (vocabulary.index(t) for t in ("👍", "👎", "🏽"))
    ids = tokenizer(["👍👍", "👎", "👍🏽", "👍" + VS16, "+++"]).numpy()[:, :3].tolist()
    assert ids == [[up, up, 0], [down, 0, 0], [up, tone, 0], [up, 0, 0], [0, 0, 0]]


def test_empty_after_standardization():
    texts = ["+++", "👍👍", "👎", "", "  ", "?!", "$ © ™ →", "a", "北", "ส", "$5", "👍" + VS16]
    assert empty_after_standardization(texts) == [
        True, False, False, True, True, True, True, False, False, False, False, False,
    ]  # fmt: skip
    assert empty_after_standardization(np.array(texts)) == empty_after_standardization(texts)
    assert empty_after_standardization([t.encode() for t in texts], batch_size=5) == (
        empty_after_standardization(texts)
    )
    assert empty_after_standardization([]) == []
    # It agrees with the tokenizer: all padding exactly where it says empty.
    tokenizer = TextTokenizer(sequence_length=4, vocabulary=["a"])
    padding_only = (tokenizer(texts).numpy() == 0).all(axis=1).tolist()
    assert padding_only == empty_after_standardization(texts)
    with pytest.raises(ValueError, match=r"texts\[2\]=None"):
        empty_after_standardization(["a", "b", None])
    with pytest.raises(ValueError, match="one string"):
        empty_after_standardization("+++")
    with pytest.raises(ValueError, match="batch_size"):
        empty_after_standardization(["a"], batch_size=0)
    with pytest.raises(ValueError, match="texts"):
        empty_after_standardization({"a": 1})


def test_empty_after_standardization_many_rows():
    rows = ["a caption", "+++", "👎", "北京"] * 5000
    empty = empty_after_standardization(rows, batch_size=3000)
    assert len(empty) == 20000 and sum(empty) == 5000 and empty[1::4] == [True] * 5000


def test_wordpiece_learns_chinese():
    vocabulary = learn_wordpiece_vocabulary(CHINESE + EMOJI, vocab_size=300)
    assert vocabulary[:2] == ["[PAD]", "[UNK]"]
    characters = set("".join(CHINESE))
    assert characters <= set(vocabulary)  # every character is a word of its own
    words = [t for t in vocabulary if not t.startswith("##") and t not in ("[PAD]", "[UNK]")]
    assert all(len(t) == 1 for t in words if t[0] in characters)  # no multi-character words
    assert {"👍", "👎", "🍜"} <= set(vocabulary)


def test_saved_model_keeps_the_script_rule(tmp_path, script_tokenizers):
    # The regular expressions are graph ops: a SavedModel gives the same ids.
    tokenizer = script_tokenizers["vectorization"]
    module = tf.Module()
    module.tokenizer = tokenizer
    module.serve = tf.function(
        tokenizer.__call__, input_signature=[tf.TensorSpec([None], tf.string)]
    )
    tf.saved_model.save(module, str(tmp_path / "saved"))
    texts = tf.constant([CHINESE_UNSEEN, JAPANESE_UNSEEN, THAI_UNSEEN, "I love 北京 🍜!", "+++"])
    np.testing.assert_array_equal(
        tf.saved_model.load(str(tmp_path / "saved")).serve(texts), tokenizer(texts)
    )


# --- a text model learns from Chinese captions --------------------------------------

TOPICS = ["猫狗鱼鸟马牛羊", "雨雪风云晴冷热", "球跑跳赛队游泳"]  # one pool per class
FILLER = "我你他她的了是在很今天这那个们都也有看说"


def chinese_captions(rng, count):
    texts, labels = [], []
    for _ in range(count):
        label = rng.randrange(len(TOPICS))
        chars = rng.sample(TOPICS[label], 2) + rng.choices(FILLER, k=rng.randint(4, 9))
        rng.shuffle(chars)
        texts.append("".join(chars) + rng.choice(["。", "！", "", "？"]))
        labels.append(label)
    return texts, np.array(labels)


def test_text_model_learns_chinese_captions():
    keras.utils.set_random_seed(0)
    train_texts, train_labels = chinese_captions(random.Random(0), 240)
    test_texts, test_labels = chinese_captions(random.Random(1), 200)
    unseen = [i for i, text in enumerate(test_texts) if text not in set(train_texts)]
    assert len(unseen) >= 100
    test_texts = [test_texts[i] for i in unseen[:100]]
    test_labels = test_labels[unseen[:100]]

    tokenizer = TextTokenizer(sequence_length=16)
    tokenizer.adapt(train_texts)
    model = keras.Sequential(
        [
            keras.Input(shape=(16,), dtype="int32"),
            keras.layers.Embedding(tokenizer.vocabulary_size, 16, mask_zero=True),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(len(TOPICS), activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(tokenizer(train_texts), train_labels, epochs=15, batch_size=32, verbose=0)
    test_ids = tokenizer(test_texts)
    assert np.mean(test_ids.numpy() == 1) < 0.05  # unseen sentences, known characters
    _, accuracy = model.evaluate(test_ids, test_labels, verbose=0)
    assert accuracy > 0.8  # chance is 1/3
    # Under the old rule every unseen caption was one [UNK]: nothing to learn from.
    old_ids = old_standardize_text(tf.constant(test_texts)).numpy()
    assert not set(old_ids.tolist()) & set(
        old_standardize_text(tf.constant(train_texts)).numpy().tolist()
    )
