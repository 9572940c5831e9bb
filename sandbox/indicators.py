"""Per-symbol technical indicators, updated one trade at a time (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _ema_step(prev: float | None, value: float, period: int) -> float:
    if prev is None:
        return value
    alpha = 2.0 / (period + 1)
    return prev + alpha * (value - prev)


@dataclass
class SymbolState:
    """Running EMA(12/26), MACD and its signal line, RSI(14, Wilder) and session VWAP."""

    ema_12: float | None = None
    ema_26: float | None = None
    macd_signal: float | None = None
    avg_gain: float | None = None
    avg_loss: float | None = None
    last_price: float | None = None
    pv_sum: float = 0.0
    volume_sum: float = 0.0
    _rsi_seen: int = field(default=0, repr=False)

    def update(self, price: float, size: float) -> dict[str, float | None]:
        self.ema_12 = _ema_step(self.ema_12, price, 12)
        self.ema_26 = _ema_step(self.ema_26, price, 26)
        macd = self.ema_12 - self.ema_26
        self.macd_signal = _ema_step(self.macd_signal, macd, 9)
        rsi = self._rsi_step(price)
        self.pv_sum += price * size
        self.volume_sum += size
        vwap = self.pv_sum / self.volume_sum if self.volume_sum else None
        return {
            "ema_12": self.ema_12,
            "ema_26": self.ema_26,
            "macd": macd,
            "macd_signal": self.macd_signal,
            "rsi_14": rsi,
            "vwap": vwap,
        }

    def _rsi_step(self, price: float) -> float | None:
        prev, self.last_price = self.last_price, price
        if prev is None:
            return None
        change = price - prev
        gain, loss = max(change, 0.0), max(-change, 0.0)
        if self.avg_gain is None or self.avg_loss is None:
            self.avg_gain, self.avg_loss = gain, loss
        else:
            self.avg_gain = (self.avg_gain * 13 + gain) / 14
            self.avg_loss = (self.avg_loss * 13 + loss) / 14
        self._rsi_seen += 1
        if self._rsi_seen < 2:
            return None
        if self.avg_loss == 0:
            return 100.0
        rs = self.avg_gain / self.avg_loss
        return 100.0 - 100.0 / (1.0 + rs)


@dataclass
class Bar:
    """OHLCV of one symbol over one bucket."""

    open: float
    high: float
    low: float
    close: float
    volume: float
    trade_count: int

    @classmethod
    def first(cls, price: float, size: float) -> Bar:
        return cls(price, price, price, price, size, 1)

    def add(self, price: float, size: float) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += size
        self.trade_count += 1
