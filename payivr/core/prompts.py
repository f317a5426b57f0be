"""Every prompt the caller can hear: its id and its words in each shipped language.

The flow only names prompt ids; the ARI edge turns an id into ``sound:payivr/<lang>/<id>``
and ``sounds/generate.py`` records these texts, so operators can replace or translate them.
"""

from __future__ import annotations

from dataclasses import dataclass

from payivr.core.cards import Brand


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int
    major_singular: str
    major_plural: str
    minor_singular: str | None
    minor_plural: str | None


CURRENCIES: dict[str, Currency] = {
    "USD": Currency("USD", 2, "major-dollar", "major-dollars", "minor-cent", "minor-cents"),
    "CAD": Currency("CAD", 2, "major-dollar", "major-dollars", "minor-cent", "minor-cents"),
    "AUD": Currency("AUD", 2, "major-dollar", "major-dollars", "minor-cent", "minor-cents"),
    "EUR": Currency("EUR", 2, "major-euro", "major-euros", "minor-cent", "minor-cents"),
    "GBP": Currency("GBP", 2, "major-pound", "major-pounds", "minor-penny", "minor-pence"),
    "JPY": Currency("JPY", 0, "major-yen", "major-yen", None, None),
}


def brand_prompt(brand: Brand) -> str:
    return f"brand-{brand.value}"


def month_prompt(month: int) -> str:
    return f"month-{month:02d}"


_BRAND_WORDS_EN = {
    Brand.VISA: "Visa",
    Brand.MASTERCARD: "Mastercard",
    Brand.AMEX: "American Express",
    Brand.DISCOVER: "Discover",
    Brand.DINERS: "Diners Club",
    Brand.JCB: "J C B",
    Brand.UNIONPAY: "Union Pay",
}
_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTHS_ES = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]

PROMPT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "This call is now in secure payment mode. Your agent cannot hear the keys you press.",
        "amount-is": "The amount to pay is",
        "and": "and",
        "confirm-amount": "Press 1 to accept this amount, or 2 if it is not correct.",
        "enter-card-number": (
            "Please enter your card number, followed by the hash key. "
            "You can press star at any time to cancel."
        ),
        "you-entered": "You entered",
        "card-ending-in": "card, ending in",
        "enter-expiry": (
            "Please enter the expiry date: two digits for the month, then two for the year."
        ),
        "expiry-is": "The expiry date is",
        "enter-security-code": "Please enter the three digit security code from the back of your card.",
        "enter-security-code-amex": (
            "Please enter the four digit security code from the front of your card."
        ),
        "security-code-entered": "Thank you. Your security code was entered.",
        "enter-postal-code": "Please enter the zip code of your billing address, followed by the hash key.",
        "postal-code-is": "The zip code you entered is",
        "confirm-entry": "Press 1 if that is correct, or 2 to enter it again.",
        "invalid-choice": "Sorry, that was not a valid choice.",
        "incomplete-entry": "Sorry, I didn't get all the digits.",
        "agent-asks-again": "Your agent has asked you to enter this again.",
        "declined-try-another-card": "You can try another card.",
        "declined-check-expiry": "The expiry date was not accepted. Please enter it again.",
        "declined-check-security-code": (
            "The security code was not accepted. Please enter it again."
        ),
        "declined-check-postal-code": "The zip code was not accepted. Please enter it again.",
        "invalid-card-number": "Sorry, that card number is not valid.",
        "brand-not-accepted": "Sorry, we cannot accept this type of card.",
        "invalid-expiry": "Sorry, that expiry date is not valid.",
        "card-expired": "Sorry, that card has expired.",
        "invalid-security-code": "Sorry, that security code is not valid.",
        "invalid-postal-code": "Sorry, that zip code is not valid.",
        "enter-routing-number": (
            "Please enter the nine digit routing number of your bank account. "
            "You can press star at any time to cancel."
        ),
        "routing-number-ending-in": "You entered a routing number ending in",
        "invalid-routing-number": "Sorry, that routing number is not valid.",
        "enter-account-number": "Please enter your account number, followed by the hash key.",
        "account-number-ending-in": "You entered an account number ending in",
        "invalid-account-number": "Sorry, that account number is not valid.",
        "choose-account-type": "For a checking account, press 1. For a savings account, press 2.",
        "account-type-checking": "You chose a checking account.",
        "account-type-savings": "You chose a savings account.",
        "invalid-account-type": "Sorry, that was not a valid account type.",
        "offer-card-on-file": (
            "Press 1 to keep this card on file for future payments, or 2 not to keep it."
        ),
        "card-kept-on-file": "Your card has been kept on file for future payments.",
        "processing": "Please wait while we process your payment.",
        "payment-approved": "Your payment was successful. Your reference ends in",
        "payment-declined": "Sorry, your payment was declined.",
        "payment-error": "Sorry, we could not process your payment. You have not been charged.",
        "payment-pending": (
            "We could not confirm your payment yet. Your agent will confirm it with you."
        ),
        "payment-cancelled": "The payment was cancelled.",
        "amount-rejected": "The payment was not made.",
        "too-many-attempts": "Sorry, there were too many invalid entries. The payment was not made.",
        "no-input": "Sorry, we did not receive your entry. The payment was not made.",
        "returning-to-agent": "Please hold while we return you to your agent.",
        "goodbye": "Thank you for calling. Goodbye.",
        "payments-unavailable": (
            "Sorry, secure payments are not available right now. Returning you to your agent."
        ),
        "request-not-understood": "Sorry, this payment request could not be started.",
        "transfer-hold": "Please hold while your agent prepares your payment.",
        "enter-amount": (
            "Please enter the amount to pay, in cents, followed by the hash key. "
            "For example, for ten dollars, enter 1 0 0 0."
        ),
        "invalid-amount": "Sorry, that amount cannot be paid here.",
        **{brand_prompt(brand): words for brand, words in _BRAND_WORDS_EN.items()},
        **{month_prompt(number): name for number, name in enumerate(_MONTHS_EN, start=1)},
        "major-dollar": "dollar",
        "major-dollars": "dollars",
        "major-euro": "euro",
        "major-euros": "euros",
        "major-pound": "pound",
        "major-pounds": "pounds",
        "major-yen": "yen",
        "minor-cent": "cent",
        "minor-cents": "cents",
        "minor-penny": "penny",
        "minor-pence": "pence",
    },
    "es": {
        "intro": (
            "Esta llamada está ahora en modo de pago seguro. "
            "Su agente no puede oír las teclas que pulse."
        ),
        "amount-is": "El importe a pagar es",
        "and": "con",
        "confirm-amount": "Pulse 1 para aceptar este importe, o 2 si no es correcto.",
        "enter-card-number": (
            "Introduzca el número de su tarjeta, seguido de la tecla almohadilla. "
            "Puede pulsar asterisco en cualquier momento para cancelar."
        ),
        "you-entered": "Ha introducido",
        "card-ending-in": "tarjeta, que termina en",
        "enter-expiry": (
            "Introduzca la fecha de caducidad: dos cifras para el mes y dos para el año."
        ),
        "expiry-is": "La fecha de caducidad es",
        "enter-security-code": (
            "Introduzca el código de seguridad de tres cifras del reverso de su tarjeta."
        ),
        "enter-security-code-amex": (
            "Introduzca el código de seguridad de cuatro cifras del anverso de su tarjeta."
        ),
        "security-code-entered": "Gracias. Se ha introducido su código de seguridad.",
        "enter-postal-code": (
            "Introduzca el código postal de su dirección de facturación, "
            "seguido de la tecla almohadilla."
        ),
        "postal-code-is": "El código postal introducido es",
        "confirm-entry": "Pulse 1 si es correcto, o 2 para introducirlo de nuevo.",
        "invalid-choice": "Lo sentimos, esa opción no es válida.",
        "incomplete-entry": "Lo sentimos, no hemos recibido todas las cifras.",
        "agent-asks-again": "Su agente le pide que lo introduzca de nuevo.",
        "declined-try-another-card": "Puede probar con otra tarjeta.",
        "declined-check-expiry": (
            "No se ha aceptado la fecha de caducidad. Introdúzcala de nuevo."
        ),
        "declined-check-security-code": (
            "No se ha aceptado el código de seguridad. Introdúzcalo de nuevo."
        ),
        "declined-check-postal-code": "No se ha aceptado el código postal. Introdúzcalo de nuevo.",
        "invalid-card-number": "Lo sentimos, ese número de tarjeta no es válido.",
        "brand-not-accepted": "Lo sentimos, no aceptamos este tipo de tarjeta.",
        "invalid-expiry": "Lo sentimos, esa fecha de caducidad no es válida.",
        "card-expired": "Lo sentimos, esa tarjeta ha caducado.",
        "invalid-security-code": "Lo sentimos, ese código de seguridad no es válido.",
        "invalid-postal-code": "Lo sentimos, ese código postal no es válido.",
        "enter-routing-number": (
            "Introduzca el número de ruta de nueve cifras de su cuenta bancaria. "
            "Puede pulsar asterisco en cualquier momento para cancelar."
        ),
        "routing-number-ending-in": "Ha introducido un número de ruta que termina en",
        "invalid-routing-number": "Lo sentimos, ese número de ruta no es válido.",
        "enter-account-number": (
            "Introduzca su número de cuenta, seguido de la tecla almohadilla."
        ),
        "account-number-ending-in": "Ha introducido un número de cuenta que termina en",
        "invalid-account-number": "Lo sentimos, ese número de cuenta no es válido.",
        "choose-account-type": (
            "Para una cuenta corriente, pulse 1. Para una cuenta de ahorros, pulse 2."
        ),
        "account-type-checking": "Ha elegido una cuenta corriente.",
        "account-type-savings": "Ha elegido una cuenta de ahorros.",
        "invalid-account-type": "Lo sentimos, ese tipo de cuenta no es válido.",
        "offer-card-on-file": (
            "Pulse 1 para guardar esta tarjeta para pagos futuros, o 2 para no guardarla."
        ),
        "card-kept-on-file": "Su tarjeta se ha guardado para pagos futuros.",
        "processing": "Espere mientras procesamos su pago.",
        "payment-approved": "Su pago se ha realizado correctamente. Su referencia termina en",
        "payment-declined": "Lo sentimos, su pago ha sido rechazado.",
        "payment-error": "Lo sentimos, no hemos podido procesar su pago. No se le ha cobrado nada.",
        "payment-pending": ("Todavía no podemos confirmar su pago. Su agente se lo confirmará."),
        "payment-cancelled": "El pago ha sido cancelado.",
        "amount-rejected": "El pago no se ha realizado.",
        "too-many-attempts": (
            "Lo sentimos, ha habido demasiados intentos no válidos. El pago no se ha realizado."
        ),
        "no-input": "Lo sentimos, no hemos recibido ninguna tecla. El pago no se ha realizado.",
        "returning-to-agent": "Espere mientras le devolvemos con su agente.",
        "goodbye": "Gracias por su llamada. Adiós.",
        "payments-unavailable": (
            "Lo sentimos, los pagos seguros no están disponibles ahora. Le devolvemos con su agente."
        ),
        "request-not-understood": "Lo sentimos, no se ha podido iniciar esta solicitud de pago.",
        "transfer-hold": "Espere mientras su agente prepara su pago.",
        "enter-amount": (
            "Introduzca el importe a pagar, en céntimos, seguido de la tecla almohadilla. "
            "Por ejemplo, para diez dólares, marque 1 0 0 0."
        ),
        "invalid-amount": "Lo sentimos, ese importe no se puede pagar aquí.",
        **{brand_prompt(brand): words for brand, words in _BRAND_WORDS_EN.items()},
        **{month_prompt(number): name for number, name in enumerate(_MONTHS_ES, start=1)},
        "major-dollar": "dólar",
        "major-dollars": "dólares",
        "major-euro": "euro",
        "major-euros": "euros",
        "major-pound": "libra",
        "major-pounds": "libras",
        "major-yen": "yenes",
        "minor-cent": "céntimo",
        "minor-cents": "céntimos",
        "minor-penny": "penique",
        "minor-pence": "peniques",
    },
}

PROMPT_IDS: frozenset[str] = frozenset(PROMPT_TEXTS["en"])
LANGUAGES: tuple[str, ...] = tuple(PROMPT_TEXTS)
# Each language as its speakers name it (the console's choice of the caller's language).
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "es": "Español"}
