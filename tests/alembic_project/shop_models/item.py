from decimal import Decimal

from sqlalchemy import Numeric, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

metadata = Base.metadata


class Item(Base):
    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, index=True)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
