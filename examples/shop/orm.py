"""The same shop on the SQLAlchemy 2 ORM: models, a sessionmaker, and service functions that commit."""

from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

# Production binds the engine to SHOP_DATABASE_URL; tests bind the sessionmaker to the test's connection.
Session = sessionmaker(bind=create_engine("postgresql+psycopg:///shop"))


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str]


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    stock: Mapped[int] = mapped_column(default=0)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


def sign_up(email: str, name: str) -> int:
    """Create a customer and commit; return its id."""
    with Session() as session:
        user = User(email=email, name=name)
        session.add(user)
        session.commit()
        return user.id


def restock(sku: str, amount: int) -> int:
    """Add to a product's stock and commit; return the new stock."""
    with Session() as session:
        product = session.scalars(select(Product).where(Product.sku == sku)).one()
        product.stock += amount
        session.commit()
        return product.stock
