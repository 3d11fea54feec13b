from tests.brokers import private_rabbit  # noqa: F401 - a RabbitMQ node the tests may restart
