"""Writes sample/ragsite-sample-product-sheet.pdf, the document a newcomer can ask about.

Run: .venv/bin/python sample/make_sample_pdf.py (needs fpdf2, from requirements-dev.txt).
The content is ours, written for this project: a fictional product sheet of four pages."""

from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF

PAGES = [
    (
        "Nimbus H2 Home Weather Station - Product Sheet",
        [
            "The Nimbus H2 is a home weather station made by Larkspur Instruments. It measures outdoor "
            "temperature, humidity, air pressure, wind speed, wind direction and rainfall, and shows them "
            "on an indoor colour display.",
            "The outdoor sensor array runs on a built-in solar panel with a 2,000 mAh backup battery, "
            "which keeps it working for up to 14 days without sunlight. The indoor display is powered by "
            "a 5 V USB-C adapter, included in the box.",
            "The sensor array sends a reading every 16 seconds over 868 MHz radio (915 MHz in North "
            "America). The radio range is up to 150 metres in open air, less through walls.",
            "In the box: the sensor array, a mounting pole with two clamps, the indoor display, the "
            "USB-C adapter, four stainless steel screws and a quick-start guide.",
        ],
    ),
    (
        "Specifications",
        [
            "Temperature range: -40 to +60 degrees Celsius, accuracy plus or minus 0.3 degrees. "
            "Humidity: 1 to 99 percent, accuracy plus or minus 3 percent. Pressure: 540 to 1100 hPa.",
            "Wind speed: 0 to 50 metres per second, from a three-cup anemometer. Wind direction: 16 "
            "points, from a wind vane. Rainfall: self-emptying tipping bucket, 0.2 mm a tip.",
            "The indoor display is a 7-inch colour screen, 1024 by 600 pixels. It stores 5 years of "
            "hourly history on its internal memory and exports it as CSV to a USB stick.",
            "Weight of the sensor array: 1.2 kg. Operating temperature of the display: 0 to 40 degrees "
            "Celsius. The sensor array is rated IP65 against dust and water jets.",
        ],
    ),
    (
        "Installation and Wi-Fi",
        [
            "Mount the sensor array at least 1.5 metres above the ground, away from walls and trees, "
            "with the solar panel facing south (north in the southern hemisphere). Use the arrow on "
            "the top of the array to point it north so that wind direction is reported correctly.",
            "To connect the display to Wi-Fi, open Settings, choose Network, pick your 2.4 GHz network "
            "and type the password. The Nimbus H2 does not support 5 GHz networks.",
            "Once connected, the display can upload readings to the Larkspur Cloud every 5 minutes and "
            "to Weather Underground. Uploading is off by default.",
            "To pair a replacement sensor array, hold the SYNC button on the back of the display for "
            "5 seconds until the radio icon blinks, then press the reset button inside the array's "
            "battery hatch.",
        ],
    ),
    (
        "Care, Troubleshooting and Warranty",
        [
            "Clean the rain gauge funnel every three months: leaves and insects block it and rainfall "
            "then reads low. Wipe the solar panel with a damp cloth; do not use solvents.",
            "If the display shows dashes instead of outdoor readings, the radio link is lost. Move the "
            "display closer to the array, away from other electronics, and press SYNC.",
            "If the pressure reading seems wrong, set your altitude under Settings, Calibration. The "
            "display then reports sea-level pressure, which is what weather services publish.",
            "The Nimbus H2 has a 3-year limited warranty from the date of purchase. The backup "
            "battery is covered for 1 year. The warranty does not cover damage from lightning or from "
            "opening the sensor array. To make a claim, email support@larkspur.example with your "
            "serial number and proof of purchase.",
        ],
    ),
]


def main():
    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime(2026, 11, 24, tzinfo=timezone.utc))  # same bytes on every run
    pdf.set_title("Nimbus H2 Home Weather Station - Product Sheet")
    pdf.set_author("Larkspur Instruments (fictional)")
    pdf.set_auto_page_break(True, margin=20)
    for heading, paragraphs in PAGES:
        pdf.add_page()
        pdf.set_font("helvetica", "B", 16)
        pdf.multi_cell(0, 9, heading)
        pdf.ln(3)
        pdf.set_font("helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
    out = Path(__file__).with_name("ragsite-sample-product-sheet.pdf")
    pdf.output(str(out))
    print(out)


if __name__ == "__main__":
    main()
