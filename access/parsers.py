"""Request parsers (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]); imports nothing of DRF's views,
which read this setting as they load."""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing JSON nested deeper than Python's parser goes (a body of
    100,000 `[` raised RecursionError: a 500) as it refuses any other unparsable body."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply") from None
