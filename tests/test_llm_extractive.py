"""The extractive provider: the default answer when no language model is configured."""

import asyncio
import re

from querying.extractive import sentences
from querying.llm.extractive import ExtractiveProvider
from querying.prompts import NOT_FOUND, Passage, Prompt

PASSAGES = [
    Passage(1, 11, 1, "Kettle Manual", 3,
            "Safety first. The warranty period is two years from the date of purchase. "
            "Returns are accepted within 30 days if the kettle is unused. Contact support by email.", 0.9),
    Passage(2, 12, 1, "Kettle Manual", 4,
            "The kettle weighs 1.2 kilograms when empty. Descale the kettle every month with citric acid.", 0.6),
    Passage(3, 13, 2, "Wasserkocher", 1, "Der Wasserkocher wiegt 1,2 Kilogramm. Die Garantie beträgt zwei Jahre.", 0.4),
    Passage(4, 14, 3, "电水壶说明书", 2, "保修期为两年。退货需在三十天内办理。", 0.3),
]


def prompt(question, passages=PASSAGES):
    return Prompt(system="ignored", messages=[{"role": "user", "content": question}], passages=passages)


def ask(question, passages=PASSAGES, **options):
    return ExtractiveProvider(**options).generate(prompt(question, passages), {})


async def collect(stream):
    return [piece async for piece in stream]


def test_answers_with_the_best_matching_sentence_and_cites_it():
    assert ask("What is the warranty period?") == "The warranty period is two years from the date of purchase. [1]"


def test_combines_sentences_from_several_passages_in_source_order_each_cited():
    answer = ask("How much does the kettle weigh, and how often should I descale it?")
    weight = "The kettle weighs 1.2 kilograms when empty. [2]"
    descale = "Descale the kettle every month with citric acid. [2]"
    assert weight in answer and descale in answer
    assert answer.index(weight) < answer.index(descale)  # reading order within the passage
    assert len(re.findall(r"\[\d\]", answer)) <= 4


def test_says_plainly_when_nothing_relevant_was_found():
    assert ask("Who won the football world cup in 1998?") == NOT_FOUND
    assert ask("What is the warranty period?", passages=[]) == NOT_FOUND


def test_works_for_german_and_chinese():
    assert ask("Wie viel wiegt der Wasserkocher?") == "Der Wasserkocher wiegt 1,2 Kilogramm. [3]"
    # German capitalises nouns: "Gerät" is no name the passages must mention.
    assert not ask("Wie schwer ist das Gerät?").startswith(NOT_FOUND)
    assert ask("保修期是多久？") == "保修期为两年。 [4]"


def test_streams_word_by_word_and_reports_usage():
    provider = ExtractiveProvider()
    usage = {}
    pieces = asyncio.run(collect(provider.stream(prompt("warranty period?"), usage)))
    assert len(pieces) > 5 and all(len(p.split()) == 1 for p in pieces)
    assert usage["output_tokens"] == len(pieces)


def test_the_stream_gives_the_same_words_as_the_whole_answer():
    provider = ExtractiveProvider()
    assert "".join(asyncio.run(collect(provider.stream(prompt("warranty period?"), {})))) == ask("warranty period?")


def test_sentence_splitting_keeps_decimals_and_splits_cjk():
    assert sentences("It weighs 1.2 kg. It is red.") == ["It weighs 1.2 kg.", "It is red."]
    assert sentences("保修期为两年。退货需在三十天内办理。") == ["保修期为两年。", "退货需在三十天内办理。"]


# The answer shares no word with the question: only meaning finds it.
WEATHER = [
    Passage(1, 21, 5, "Weather station", 1,
            "Clean the rain gauge funnel every three months. The display stores five years of history.", 0.5),
    Passage(2, 22, 5, "Weather station", 2,
            "The radio range is up to 150 metres in open air. Mount the array on the pole.", 0.5),
]
SIGNAL_QUESTION = "How far does the signal travel?"


def test_meaning_finds_an_answer_that_shares_no_word_with_the_question():
    passages, question = WEATHER, SIGNAL_QUESTION
    assert ask(question, passages) == "The radio range is up to 150 metres in open air. [2]"
    # Words alone find nothing here: the similarity of meaning is what answered.
    assert ask(question, passages, semantic=False) == NOT_FOUND


def test_the_question_embedded_by_search_is_not_embedded_again(monkeypatch):
    """Search hands the question's vector on with the passages (in a search process, the web
    process's model would otherwise run once more per question): the answer is the same, and
    only the candidate sentences are embedded."""
    from documents.embedding import get_embedder

    passages, question = WEATHER, SIGNAL_QUESTION
    embedder = get_embedder()
    embedder.__dict__.pop("_query_cache", None)  # nothing remembered from an earlier question
    vector = embedder.embed([question])[0]
    embedded = []
    real_embed = type(embedder).embed
    monkeypatch.setattr(
        type(embedder), "embed", lambda self, texts, **options: embedded.extend(texts) or real_embed(self, texts, **options)
    )

    answer = ExtractiveProvider().answer(question, passages, vector)

    assert answer == "The radio range is up to 150 metres in open air. [2]"
    assert embedded and question not in embedded
    prompt_with_vector = Prompt(system="", messages=[{"role": "user", "content": question}], passages=passages,
                                query_vector=vector)
    embedded.clear()
    streamed = "".join(asyncio.run(collect(ExtractiveProvider().stream(prompt_with_vector, {}))))
    assert streamed == answer and question not in embedded


MANUAL = Passage(
    1, 21, 5, "Octave manual", 201,
    "Chapter 11: Functions and Scripts 201\n"
    "nargin ()\n"
    "Called from within a function, return the number of arguments passed to the function. "
    "At the top level, return the number of command line arguments passed to Octave.\n"
    "Input Conversion . . . . . . . . . . . . . . . . . . . 199\n"
    "To stop paging through long output, use:\n"
    "more off",
    0.9,
)


def test_quotes_the_signature_line_that_names_what_the_sentence_describes():
    answer = ask("Inside a function, how do I find out how many arguments the caller passed?", passages=[MANUAL])
    assert answer.startswith("nargin () Called from within a function, return the number of arguments")
    assert answer.endswith("[1]")


def test_never_quotes_running_headers_or_contents_lines():
    for question in ("What is in chapter 11 on functions and scripts?", "Where is input conversion?"):
        answer = ask(question, passages=[MANUAL])
        assert "Chapter 11: Functions and Scripts 201" not in answer
        assert ". . . ." not in answer


def test_a_sentence_that_ends_with_a_colon_brings_the_line_it_introduces():
    assert "use: more off [1]" in ask("How do I stop the paging of long output?", passages=[MANUAL])


def test_names_the_function_whose_elided_signature_runs_into_its_description():
    octave = Passage(
        1, 21, 5, "GNU Octave", 512,
        "x = fzero (fun, x0) x = fzero (fun, x0, options) [x, fval, info, output] = fzero (. . . ) "
        "Find a zero of a univariate function. fun is a function handle, inline function, or string "
        "containing the name of the function to evaluate.", 0.9,
    )
    answer = ask("How do I find where a function of one variable crosses zero?", passages=[octave])
    assert "fzero" in answer and "Find a zero of a univariate function." in answer


# A form or a member list: a label on one line and its value, a line of figures, on the next.
MEMBER_LIST = Passage(
    1, 31, 7, "Member list", 1,
    "International Council of Containership Operators\nAgreement No.\n010099-061 060\n"
    "Members are listed by the country of their head office.",
    0.9,
)

ACMART = Passage(
    1, 41, 8, "ACM template", 3,
    "If your author list is lengthy, you must define a shortened version of the list of authors to be "
    "used in the page headers, to prevent overlapping text. Write the following command just after the "
    "last such definition:\n\\renewcommand{\\shortauthors}{McCartney, et al.}\n"
    "Titles are set in the sans serif font.",
    0.9,
)


def test_a_label_brings_the_value_on_the_line_after_it():
    answer = ask("What is the agreement number of the council?", passages=[MEMBER_LIST])
    assert "Agreement No. 010099-061 060 [1]" in answer


PUMP_MANUAL = Passage(
    1, 41, 9, "Pump manual", 6,
    "Cleaning and Warranty\n"
    "Rinse the intake filter under running water every week: sand wears the impeller.\n"
    "Dry the housing with a soft cloth. The P-40 pump has a two-year limited warranty from the date "
    "of purchase. Damage from frost is not covered.",
    0.9,
)


def test_a_section_heading_is_not_quoted_with_prose_that_does_not_answer():
    """The heading names the question's subject, the sentence after it is about something else:
    the answer is the sentence that holds the fact, without the heading and its first lines."""
    answer = ask("How long is the warranty?", passages=[PUMP_MANUAL])
    assert "two-year limited warranty" in answer
    assert "Cleaning and Warranty" not in answer and "intake filter" not in answer
    # A heading whose whole section is about something else answers nothing.
    heading_only = Passage(1, 42, 9, "Pump manual", 6, "Warranty\nRinse the intake filter every week.", 0.9)
    assert ask("How long is the warranty?", passages=[heading_only]) == NOT_FOUND


def test_a_line_of_figures_is_not_taken_for_a_running_footer():
    # A running footer names something beside its page number ("Chapter 5: Functions 87").
    from documents.text.units import units

    (figures,) = [unit for unit in units(MEMBER_LIST.text) if unit.text.startswith("010099")]
    assert not figures.furniture


def test_a_number_with_a_leading_zero_is_not_a_page_number():
    # The scan's header line, as its OCR gives it: a reference number, not a running footer.
    from documents.text.units import units

    header = "International Council of Containership Operators\nAgreement No. 010099-061 060\n88 GNU Octave"
    assert [(unit.text, unit.furniture) for unit in units(header)] == [
        ("International Council of Containership Operators", False),
        ("Agreement No. 010099-061 060", False),
        ("88 GNU Octave", True),
    ]
    answer = ask("What is the agreement number of the council?", passages=[Passage(1, 31, 7, "Member list", 1, header, 0.9)])
    assert "Agreement No. 010099-061 060 [1]" in answer


def test_a_sentence_followed_by_one_that_introduces_a_command_brings_both_and_the_command():
    answer = ask("The author names overlap in the page header. How do I shorten them?", passages=[ACMART])
    assert "you must define a shortened version" in answer
    assert "such definition: \\renewcommand{\\shortauthors}{McCartney, et al.} [1]" in answer
    assert "sans serif" not in answer


def test_the_passage_ranked_first_is_read_for_meaning_beyond_the_lines_that_share_words():
    """The lines that share the question's words fill the shortlist that is embedded; the first
    passage's own lines are embedded besides, so its answer, which shares none, is still found."""
    distractors = Passage(
        2, 23, 5, "Weather station", 7,
        " ".join(f"Signal icon {n} on the display shows a different status of the base unit." for n in range(1, 11)),
        0.4,
    )
    first = Passage(1, 22, 5, "Weather station", 2,
                    "Mount the array on the pole. The radio range is up to 150 metres in open air.", 0.5)
    radio = "The radio range is up to 150 metres in open air. [1]"
    assert radio in ask(SIGNAL_QUESTION, [first, distractors])
    assert radio not in ask(SIGNAL_QUESTION, [first, distractors], first_passage=0)


def test_sentence_vectors_stored_at_ingest_give_the_same_answers_without_running_the_model(monkeypatch):
    """A passage whose sentences were embedded at ingest is answered from those vectors: the
    model runs on nothing while the asker waits, and the answers are those it would have given.
    Vectors that do not match the passage's sentences (stored for an older text) are not used."""
    import dataclasses

    from documents.embedding import get_embedder, sentence_vectors_pack
    from documents.text.units import meaning_texts

    embedder = get_embedder()
    asked = [
        ("What is the warranty period?", PASSAGES),
        ("How much does the kettle weigh, and how often should I descale it?", PASSAGES),
        (SIGNAL_QUESTION, WEATHER),
        ("What does nargin return?", [MANUAL]),
        ("What is the agreement number of the council?", [MEMBER_LIST]),
        ("How long is the warranty?", [PUMP_MANUAL]),
    ]
    cases = []
    for question, passages in asked:
        stored = [
            dataclasses.replace(passage, sentence_vectors=sentence_vectors_pack(embedder.embed(meaning_texts(passage.text))))
            for passage in passages
        ]
        vector = embedder.embed_query(question)
        cases.append((question, passages, stored, vector, ExtractiveProvider().answer(question, passages, vector)))
    embedded = []
    real_embed = type(embedder).embed
    monkeypatch.setattr(
        type(embedder), "embed", lambda self, texts, **options: embedded.extend(texts) or real_embed(self, texts, **options)
    )

    for question, _, stored, vector, expected in cases:
        assert ExtractiveProvider().answer(question, stored, vector) == expected
    assert embedded == []

    question, passages, stored, vector, expected = cases[2]
    stale = [dataclasses.replace(passage, text=passage.text + " It was repainted in May.") for passage in stored]
    assert ExtractiveProvider().answer(question, stale, vector) == expected
    assert embedded  # the stored vectors no longer match the sentences: they were embedded again


OPTIONS_LIST = Passage(
    1, 41, 6, "GNU Octave", 22,
    "--no-history Disable recording of command-line history.\n"
    "--no-init-file Don't read the initialization files ~/.octaverc and .octaverc.\n"
    "--no-init-path Don't initialize the search path for function files to include default locations.\n"
    "--norc Don't read any of the system or user initialization files at startup. "
    "This is equivalent to using both of the options --no-init-file and --no-site-file.\n"
    "--no-site-file Don't read the site-wide octaverc initialization files.", 0.8,
)


def test_an_option_the_question_names_is_answered_by_the_line_that_defines_it():
    # The sentence that only mentions --no-init-file, and the neighbouring options' lines, share
    # as many words with the question; the line that begins with it defines it.
    answer = ask("What does the --no-init-file option skip?", passages=[OPTIONS_LIST])
    assert "--no-init-file Don't read the initialization files ~/.octaverc and .octaverc." in answer
    assert ask("What does the --no-init-file option skip?", passages=[OPTIONS_LIST], definition_boost=0) != answer


FIXED_WIDTH = Passage(
    1, 42, 7, "R Data Import/Export", 9,
    "2.2 Fixed-width-format files\n"
    "Sometimes data files have no field delimiters but have fields in pre-specified columns. "
    "Function read.fwf provides a simple way to read such files, specifying a vector of field widths. "
    "Reading fixed-width files is slow for large files.", 0.8,
)


def test_the_best_sentence_brings_the_next_one_when_that_refers_back_to_it():
    question = "My data file has fields at fixed columns and no delimiters. How can I read it?"
    answer = ask(question, passages=[FIXED_WIDTH], max_sentences=1)
    assert "pre-specified columns. Function read.fwf provides a simple way to read such files" in answer
    assert "read.fwf" not in ask(question, passages=[FIXED_WIDTH], max_sentences=1, next_sentences=0)
    # A next sentence that does not refer back stays out (the kettle's returns after its warranty).
    assert ask("What is the warranty period?") == "The warranty period is two years from the date of purchase. [1]"


def test_every_quoted_sentence_reads_on_through_two_sentences_that_refer_back():
    layout = Passage(
        1, 44, 7, "R Data Import/Export", 8,
        "A data file with fields at fixed columns and no delimiters is laid out by position.", 0.8,
    )
    punched = Passage(
        2, 45, 7, "R Data Import/Export", 9,
        "Some data files have no field delimiters but have fields in fixed columns. "
        "This was very common in the days of punched cards. "
        "Function read.fwf provides a simple way to read such files. Excel files are another matter.", 0.7,
    )
    question = "My data file has fields at fixed columns and no delimiters. How can I read it?"
    # The sentence that reads on is not the best quoted place, and the one that names the function
    # is two after it.
    answer = ask(question, passages=[layout, punched])
    assert answer.startswith("A data file with fields at fixed columns")
    assert "punched cards. Function read.fwf provides a simple way to read such files. [2]" in answer
    assert "Excel" not in answer
    assert "punched cards. [2]" in ask(question, passages=[layout, punched], next_sentences=1)


def test_a_sentence_that_refers_back_within_its_first_words_is_read_on_to():
    escapes = Passage(
        1, 46, 7, "R Data Import/Export", 10,
        "Both read.table and scan have a logical argument allowEscapes. "
        "If this is set to true, C-style escapes such as \\n and \\t are interpreted. "
        "In other respects the file is read as before.", 0.8,
    )
    answer = ask("What does allowEscapes do in read.table?", passages=[escapes], max_sentences=1)
    assert "allowEscapes. If this is set to true, C-style escapes" in answer
    assert "In other respects" not in answer


def test_a_line_that_introduces_something_else_is_not_brought_along():
    sheet = Passage(
        1, 43, 8, "Nimbus H2", 1,
        "The sensor array sends a reading every 16 seconds over 868 MHz radio. "
        "The radio range is up to 150 metres in open air, less through walls. In the box:\n"
        "the sensor array, a mounting pole with two clamps, the indoor display and a quick-start guide.", 0.8,
    )
    answer = ask("How far does the radio reach?", passages=[sheet])
    assert "The radio range is up to 150 metres in open air, less through walls." in answer
    assert "In the box" not in answer and "mounting pole" not in answer


def test_refuses_and_says_which_name_no_passage_mentions():
    # The passages are about reading data, closely; they never mention Parquet, so they cannot
    # say how to read it.
    answer = ask("How do I read a Parquet file into R?", passages=[FIXED_WIDTH])
    assert answer == f"{NOT_FOUND} None of the passages found mentions “Parquet”."
    assert ask("How do I read a Parquet file into R?", passages=[FIXED_WIDTH], require_names=False) != answer


def test_refuses_names_the_passages_mention_only_apart_and_answers_them_together():
    # Octave's manual and R's each match "connect ... database": R's names PostgreSQL, Octave's
    # does not. No passage is about the two together, so none says how to connect one to the other.
    octave = Passage(1, 51, 4, "GNU Octave", 998, "Use the pkg command to install packages of add-on functions for Octave.", 0.8)
    r_manual = Passage(
        2, 52, 5, "R Data Import/Export", 29,
        "We have tested MySQL, PostgreSQL and SQLite on Linux through ODBC. The RODBC package connects R to them.", 0.7,
    )
    question = "How do I connect Octave to a PostgreSQL database?"
    answer = ask(question, passages=[octave, r_manual])
    assert answer == f"{NOT_FOUND} None of the passages found mentions “Octave” and “PostgreSQL” together."
    assert ask(question, passages=[octave, r_manual], require_names=False) != answer
    # Together in one passage, they are answered; the title counts: a passage of Octave's manual
    # is about Octave, named in its text or not.
    assert "RODBC package connects" in ask("How does RODBC connect to PostgreSQL?", passages=[octave, r_manual])
    database = Passage(3, 53, 4, "GNU Octave", 1001, "The database package connects to PostgreSQL servers with pq_connect.", 0.6)
    assert "pq_connect" in ask(question, passages=[octave, r_manual, database])


def test_a_name_written_otherwise_in_the_passages_is_still_answered():
    scan = Passage(
        1, 44, 9, "The Siege of Vicksburg", 6,
        "Schenkel's projectile has a body of cast iron; a papier-mache wad expands into the rifling. "
        "The International Council of Containership Operators met in Washington. NASA's archive keeps it.", 0.8,
    )
    for question in (
        "What is Schenkl's projectile made of?",  # an OCR'd or older spelling
        "Where did the ICCO meet?",  # an acronym of capitalised words
        "What does the NASA archive keep?",  # the name with a possessive
        "what is schenkl's projectile made of?",  # no capitals: names nothing, never refused
        "My API returns a list of IDs: what is Schenkl's projectile made of?",  # abbreviations, not names
    ):
        assert "None of the passages found mentions" not in ask(question, passages=[scan]), question
    assert "cast iron" in ask("What is Schenkl's projectile made of?", passages=[scan])


def test_refuses_a_price_date_or_count_the_closest_passages_do_not_give():
    # The kettle manual's passages are about the kettle, closely, but give no price, no date and
    # no number of cups: quoting its warranty sentence would look like an answer and is none.
    for question, missing in (
        ("What is the retail price of the kettle?", "amount of money"),
        ("On what date was the kettle released?", "date"),
        ("How many cups does the kettle boil at once?", "number of cups"),
        ("How many cups come with the kettle?", "number of cups"),
        ("What are the yearly dues of the kettle owners' club?", "amount of money"),
        ("What is the phone number of kettle support?", "telephone number"),
    ):
        answer = ask(question)
        assert answer == f"{NOT_FOUND} The passages closest to it give no {missing}.", question
        assert ask(question, require_value=False) != answer


def test_a_limit_is_answered_by_a_number_beside_what_is_limited_not_by_a_date_or_a_citation():
    # The sample paper's header gives the conference's dates, and its text speaks of the page
    # header: neither gives a page limit, nor does the citation "[2]" after "page header(s)".
    header = Passage(1, 61, 6, "ACM sample", 1, "Conference acronym XX, June 03-05, 2018, Woodstock, NY.", 0.8)
    furniture = Passage(2, 62, 6, "ACM sample", 2, "Authors must put the conference information in the page header(s).", 0.7)
    question = "What is the page limit for a full paper at the conference?"
    answer = ask(question, passages=[header, furniture])
    assert answer == f"{NOT_FOUND} The passages closest to it give no page limit."
    assert ask(question, passages=[header, furniture], require_value=False) != answer
    limited = Passage(3, 63, 6, "ACM sample", 3, "Full papers for the conference are limited to 12 pages, references excluded.", 0.6)
    assert "12 pages" in ask(question, passages=[header, furniture, limited])


def test_a_question_whose_value_is_quoted_is_answered():
    assert "1.2 kilograms" in ask("How much does the kettle weigh?")
    assert "30 days" in ask("How many days do I have to return the kettle?")
    support = Passage(5, 15, 1, "Kettle Manual", 5, "Kettle support answers on +44 20 7946 0958 every weekday.", 0.5)
    assert "+44 20 7946 0958" in ask("What is the phone number of kettle support?", passages=[*PASSAGES, support])
    assert "30 days" in ask("how many days do I have to return it?")
    # "How many" asks for a count, whatever else it names (found by hand: "paid" read as money).
    leave = Passage(6, 16, 1, "HR handbook", 1, "Every employee has 31 days of paid leave a year, booked in the HR portal.", 0.6)
    assert "31 days" in ask("How many days of paid leave do I get?", passages=[leave])
    # A question asked yes or no, who, where or why asks for no value, whatever it names.
    assert "30 days" in ask("Is there a fee for returning the kettle?")
    assert "30 days" in ask("Where do I return the kettle, and is the price refunded?")
    # "When" asks for a condition as often as a date; a question in another language is not read.
    for question in ("When are returns accepted?", "How often should I descale the kettle?", "Wie schwer ist der Wasserkocher?", "保修期多长？"):
        assert not ask(question).startswith(NOT_FOUND), question


STATION = [
    Passage(1, 21, 5, "Weather Station", 7,
            "Power. The station runs on the mains adapter. The backup battery keeps the clock and the readings "
            "for 48 hours during a power cut. Lightning damage is not covered by the warranty; unplug the station "
            "before a thunderstorm.", 0.9),
]


def test_a_follow_up_quotes_what_answers_it_not_the_answer_before():
    """Issue: in one conversation "What about lightning damage?" after "And the backup battery?"
    restated the battery sentence. A follow-up's answer does not repeat what an earlier answer of
    the conversation quoted while anything else in the passages answers it."""
    first = ask("How long does the backup battery keep the readings?", STATION)
    assert "backup battery keeps the clock" in first
    searched = "What about lightning damage? backup battery readings"  # the heuristic rewrite's query
    messages = [{"role": "user", "content": "How long does the backup battery keep the readings?"},
                {"role": "assistant", "content": first}, {"role": "user", "content": "What about lightning damage?"}]
    follow_up = ExtractiveProvider().generate(
        Prompt(system="ignored", messages=messages, passages=STATION, search_query=searched), {})
    assert "Lightning damage is not covered by the warranty" in follow_up
    assert "backup battery keeps the clock" not in follow_up
    # Asked again with nothing else to quote, the answer says it again rather than finding nothing.
    again = ExtractiveProvider().generate(
        Prompt(system="ignored", messages=[*messages[:2], {"role": "user", "content": messages[0]["content"]}],
               passages=STATION[:1]), {})
    assert "backup battery keeps the clock" in again
