"""OCR backends for tests. They run in the OCR child process, which has no Django settings:
this module imports nothing that needs them."""

import os
import signal
import time

from documents.ocr import OcrBackend


class SleepyOcr(OcrBackend):
    """Takes `sleep` seconds a page, then says "slept"."""

    def __init__(self, *, sleep: float = 5.0, **options):
        super().__init__(sleep=sleep, **options)
        self.sleep = sleep

    def recognise(self, image) -> str:
        time.sleep(self.sleep)
        return "slept"


class CrashingOcr(OcrBackend):
    """Dies (as the kernel's out-of-memory killer would kill it) on its `crash_on`-th page."""

    def __init__(self, *, crash_on: int = 2, **options):
        super().__init__(crash_on=crash_on, **options)
        self.crash_on = crash_on
        self.calls = 0

    def recognise(self, image) -> str:
        self.calls += 1
        if self.calls == self.crash_on:
            os.kill(os.getpid(), signal.SIGKILL)
        return f"page image {image.width} by {image.height}"
