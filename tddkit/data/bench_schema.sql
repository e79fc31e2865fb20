-- The schema of the examples (examples/, configured in pyproject.toml), and what `python -m tddkit bench`
-- rebuilds when the project configures no schema: shipped inside the package, so an installed tddkit has it.
--
-- A small shop: customers, a product catalogue, orders and their lines.

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL UNIQUE CHECK (position('@' in email) > 1),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    price       numeric(10, 2) NOT NULL CHECK (price >= 0),
    stock       integer NOT NULL DEFAULT 0 CHECK (stock >= 0)
);

CREATE TYPE order_status AS ENUM ('cart', 'placed', 'shipped', 'cancelled');

CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      order_status NOT NULL DEFAULT 'cart',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_user_id_status_idx ON orders (user_id, status);

CREATE TABLE order_items (
    order_id    bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  bigint NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- Order totals, as the application reads them.
CREATE VIEW order_totals AS
SELECT o.id AS order_id, o.user_id, o.status,
       coalesce(sum(i.quantity * i.unit_price), 0)::numeric(12, 2) AS total
FROM orders o
LEFT JOIN order_items i ON i.order_id = o.id
GROUP BY o.id;

-- Placing an order takes the items out of stock, or fails as a whole.
CREATE FUNCTION place_order(p_order_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products p
       SET stock = p.stock - i.quantity
      FROM order_items i
     WHERE i.order_id = p_order_id AND i.product_id = p.id;
    UPDATE orders SET status = 'placed' WHERE id = p_order_id AND status = 'cart';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'order % is not a cart', p_order_id;
    END IF;
END;
$$;
